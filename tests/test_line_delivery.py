"""Conversations over LINE, end to end: signed webhooks into the real app (inbox worker running),
the real async SDK out to a fake LINE API that checks every request against LINE's OpenAPI files."""
from __future__ import annotations

import asyncio
import copy
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.delivery import Delivery, DeliveryError
from bot.inbox import idempotency_key
from bot.store import repo
from bot.store.models import NotifiedGroup, User
from bot.types import Choice, Reply, UserKey
from handlers.line.api import LineApi, LineSender
from tests.fake_line_api import (
    QUOTA_MESSAGE,
    FakeLineApi,
    follow_event,
    group_text_event,
    line_id,
    line_settings,
    media_event,
    postback_event,
    running_bansou,
    text_event,
    unfollow_event,
)
from tests.line_openapi import LineSpec


@pytest.fixture
def spec(shared_dir):
    return LineSpec(shared_dir)


@pytest.fixture
def fake(spec):
    return FakeLineApi(validate=spec.request_errors)


@pytest.fixture
async def line(settings, clock, spec, fake):
    async with fake.serve():
        async with running_bansou(settings, clock, fake=fake, spec=spec) as world:
            yield world
    assert fake.violations == []


def says(line, message_id: str, lang: str = "ja") -> str:
    return line.runtime.content.text(message_id, lang)


async def row_for(line, event):
    return next(r for r in await line.inbox_rows() if r.event_id == event["webhookEventId"])


async def wait_row(line, event, status: str, *, attempts: int | None = None):
    """The event's inbox row once it has ``status`` (and, if given, that many delivery attempts)."""
    deadline = time.monotonic() + 10
    while True:
        row = await row_for(line, event)
        if row.status == status and (attempts is None or row.attempts == attempts):
            return row
        assert time.monotonic() < deadline, f"event stuck at {row.status} after {row.attempts} attempts"
        await asyncio.sleep(0.02)


# ---- the conversation ----------------------------------------------------------------------------

async def test_tapping_quick_replies_moves_the_flow(line, fake):
    mei = line_id()
    await line.post(text_event(mei, "こんにちは", reply_token=fake.issue_reply_token(mei)))
    await fake.wait_for(lambda: len(fake.sent_to(mei)) == 1)
    english = next(b for b in fake.sent_to(mei)[0].quick_replies if b["label"] == "English")

    # Mei taps "English": LINE posts a postback with the button's data.
    await line.post(postback_event(mei, english["data"], reply_token=fake.issue_reply_token(mei)))
    await fake.wait_for(lambda: len(fake.sent_to(mei)) == 2)
    consent = fake.sent_to(mei)[1]
    assert consent.via == "reply"
    assert consent.texts[-1] == says(line, "onboarding.consent", "en")
    assert [b["label"] for b in consent.quick_replies] == [says(line, "onboarding.consent_yes", "en"),
                                                           says(line, "onboarding.consent_no", "en")]
    async with line.runtime.db.session() as session:
        user = await repo.get_user(session, UserKey("line", mei))
        assert user.language == "en" and user.timezone == line.settings.default_timezone


async def test_a_sticker_gets_a_short_answer_and_the_question_again(line, fake):
    jun = line_id()
    await line.post(text_event(jun, "こんにちは", reply_token=fake.issue_reply_token(jun)))
    await fake.wait_for(lambda: len(fake.sent_to(jun)) == 1)
    question = fake.sent_to(jun)[0]
    for kind in ("sticker", "image", "video", "audio", "file", "location"):
        before = len(fake.sent_to(jun))
        await line.post(media_event(jun, kind, reply_token=fake.issue_reply_token(jun)))
        await fake.wait_for(lambda: len(fake.sent_to(jun)) == before + 1)
        answer = fake.sent_to(jun)[-1]
        assert answer.texts[0] == says(line, "common.unsupported")
        assert answer.quick_replies == question.quick_replies  # still on the language question


async def test_follow_starts_onboarding_in_the_profiles_language(line, fake):
    emma = line_id()
    fake.profiles[emma] = {"language": "en-GB"}
    await line.post(follow_event(emma, reply_token=fake.issue_reply_token(emma)))
    await fake.wait_for(lambda: fake.sent_to(emma))
    [welcome] = fake.sent_to(emma)
    assert welcome.texts[0] == says(line, "onboarding.welcome", "en")
    assert any(r.path == f"/v2/bot/profile/{emma}" for r in fake.requests)


async def test_follow_still_onboards_when_the_profile_cannot_be_read(line, fake):
    taro = line_id()
    fake.fail("profile", 500)
    await line.post(follow_event(taro, reply_token=fake.issue_reply_token(taro)))
    await fake.wait_for(lambda: fake.sent_to(taro))
    assert fake.sent_to(taro)[0].texts[0] == says(line, "onboarding.welcome", "ja")


async def test_a_returning_follower_keeps_the_language_they_chose(line, fake):
    sora = line_id()
    fake.profiles[sora] = {"language": "en"}
    await line.post(follow_event(sora, reply_token=fake.issue_reply_token(sora)))
    await fake.wait_for(lambda: fake.sent_to(sora))
    japanese = next(b for b in fake.sent_to(sora)[0].quick_replies if b["label"] == "日本語")
    await line.post(postback_event(sora, japanese["data"], reply_token=fake.issue_reply_token(sora)))
    await fake.wait_for(lambda: len(fake.sent_to(sora)) == 2)
    await line.post(unfollow_event(sora))
    await line.post(follow_event(sora, reply_token=fake.issue_reply_token(sora), unblocked=True))
    await fake.wait_for(lambda: len(fake.sent_to(sora)) == 3)
    # welcomed back in the language they chose, not onboarded a second time
    assert fake.sent_to(sora)[2].texts == [says(line, "line.welcome_back", "ja")]
    assert sum(r.path.startswith("/v2/bot/profile/") for r in fake.requests) == 1


async def test_unfollow_deactivates_the_user_through_the_coach(line, fake):
    rin = line_id()
    seen = []
    line.runtime.coach.listeners.append(lambda outcome: seen.append([e.name for e in outcome.effects]))
    await line.post(text_event(rin, "こんにちは", reply_token=fake.issue_reply_token(rin)))
    await fake.wait_for(lambda: fake.sent_to(rin))
    unfollow = unfollow_event(rin)
    await line.post(unfollow)
    await wait_row(line, unfollow, "ignored")  # nothing to say to someone who blocked us
    assert ["deactivate"] in seen
    async with line.runtime.db.session() as session:
        assert (await repo.get_user(session, UserKey("line", rin))).active is False
    assert len(fake.sent_to(rin)) == 1


async def test_a_group_hears_once_that_bansou_is_one_to_one(line, fake):
    team, other = line_id("C"), line_id("R")
    members = [line_id(), line_id()]
    for i, member in enumerate(members * 2):
        await line.post(group_text_event(team, member, f"message {i}", reply_token=fake.issue_reply_token(team)))
    await line.post(group_text_event(other, members[0], "hi", reply_token=fake.issue_reply_token(other), room=True))
    await fake.wait_for(lambda: fake.sent_to(team) and fake.sent_to(other))
    await line.settle()
    assert [s.texts for s in fake.sent_to(team)] == [[says(line, "common.group_one_to_one")]]
    assert [s.texts for s in fake.sent_to(other)] == [[says(line, "common.group_one_to_one")]]
    async with line.runtime.db.session() as session:
        assert (await session.execute(select(User))).first() is None  # the engine never ran
        groups = {g.group_id for g in (await session.execute(select(NotifiedGroup))).scalars()}
    assert groups == {team, other}


# ---- exactly once ------------------------------------------------------------------------------

async def test_a_redelivered_event_is_not_answered_again(line, fake):
    kai = line_id()
    event = text_event(kai, "こんにちは", reply_token=fake.issue_reply_token(kai))
    await line.post(event)
    await wait_row(line, event, "done")
    redelivered = copy.deepcopy(event)
    redelivered["deliveryContext"]["isRedelivery"] = True
    assert (await line.post(redelivered)).status_code == 200
    await line.settle()
    assert len(fake.sent_to(kai)) == 1
    assert [r.status for r in await line.inbox_rows()] == ["done"]


async def test_an_expired_reply_token_falls_back_to_a_push_with_the_retry_key(line, fake):
    yui = line_id()
    token = fake.issue_reply_token(yui)
    fake.expired_tokens.add(token)
    event = text_event(yui, "こんにちは", reply_token=token)
    await line.post(event)
    await fake.wait_for(lambda: fake.sent_to(yui))
    [push] = fake.sent_to(yui)
    assert push.via == "push" and push.retry_key == idempotency_key("line", event["webhookEventId"])
    assert [b["label"] for b in push.quick_replies] == ["日本語", "English"]


async def test_a_push_that_fails_with_500_is_retried_and_delivered_once(line, fake, clock):
    ren = line_id()
    token = fake.issue_reply_token(ren)
    fake.expired_tokens.add(token)
    fake.fail("push", 500, message="Internal server error")
    event = text_event(ren, "こんにちは", reply_token=token)
    await line.post(event)
    row = await wait_row(line, event, "sending", attempts=1)
    assert row.attempts == 1 and row.next_attempt_at > clock.now and fake.sent_to(ren) == []
    clock.advance(seconds=5)
    await line.settle()
    assert len(fake.sent_to(ren)) == 1
    assert (await row_for(line, event)).status == "done"


async def test_a_push_line_took_but_whose_answer_was_lost_is_not_sent_twice(line, fake, clock):
    aoi = line_id()
    token = fake.issue_reply_token(aoi)
    fake.expired_tokens.add(token)
    fake.fail("push", 500, accept=True)
    event = text_event(aoi, "こんにちは", reply_token=token)
    await line.post(event)
    await wait_row(line, event, "sending", attempts=1)
    clock.advance(seconds=5)
    await line.settle()
    assert (await row_for(line, event)).status == "done"
    assert len(fake.sent_to(aoi)) == 1
    assert [r.status for r in fake.requests if r.path.endswith("/push")] == [500, 409]


async def test_429_with_retry_after_waits_that_long(line, fake, clock):
    nao = line_id()
    token = fake.issue_reply_token(nao)
    fake.fail("reply", 429, message="Too many requests", headers={"Retry-After": "30"})
    event = text_event(nao, "こんにちは", reply_token=token)
    await line.post(event)
    row = await wait_row(line, event, "sending", attempts=1)
    assert row.next_attempt_at == clock.now + timedelta(seconds=30)
    clock.advance(seconds=20)
    await line.settle()
    assert fake.sent_to(nao) == []
    clock.advance(seconds=11)
    await line.settle()
    [reply] = fake.sent_to(nao)
    assert reply.via == "reply"  # the token was still good


async def test_the_monthly_quota_is_final_and_recorded(line, fake, clock):
    hina = line_id()
    token = fake.issue_reply_token(hina)
    fake.expired_tokens.add(token)
    fake.fail("push", 429, message=QUOTA_MESSAGE)
    event = text_event(hina, "こんにちは", reply_token=token)
    await line.post(event)
    row = await wait_row(line, event, "failed")
    assert "quota" in row.error
    clock.advance(days=1)
    await line.settle()
    assert sum(r.path.endswith("/push") for r in fake.requests) == 1 and fake.sent_to(hina) == []


# ---- surviving a restart -------------------------------------------------------------------------

async def test_work_left_when_the_process_stopped_is_done_at_the_next_start(settings, clock, spec, fake):
    async with fake.serve():
        haru = line_id()
        event = text_event(haru, "こんにちは", reply_token=fake.issue_reply_token(haru))
        # The first process stores and acknowledges the event, then stops before its worker runs.
        async with running_bansou(settings, clock, fake=fake, spec=spec, lifespan=False) as first:
            assert (await first.post(event)).status_code == 200
            assert [r.status for r in await first.inbox_rows()] == ["pending"]
        assert fake.requests == []
        # A new process on the same database picks it up and answers, once.
        async with running_bansou(settings, clock, fake=fake, spec=spec) as second:
            await fake.wait_for(lambda: fake.sent_to(haru))
            await second.settle()
            assert len(fake.sent_to(haru)) == 1
            assert [r.status for r in await second.inbox_rows()] == ["done"]
    assert fake.violations == []


# ---- the client on its own -----------------------------------------------------------------------

async def test_more_than_five_messages_go_in_order_and_a_retry_does_not_repeat_the_reply(settings, spec, fake):
    async with fake.serve():
        api = LineApi(line_settings(settings, fake))
        user = line_id()
        token = fake.issue_reply_token(user)
        messages = [{"type": "text", "text": f"part {i}"} for i in range(12)]
        key = str(uuid.uuid4())
        fake.fail("push", 503, headers={"Retry-After": "4"})
        with pytest.raises(DeliveryError) as err:
            await api.send(to=user, messages=messages, retry_key=key, reply_token=token)
        assert err.value.retryable and err.value.retry_after == 4.0
        await api.send(to=user, messages=messages, retry_key=key, reply_token=token)
        await api.close()
    assert [s.via for s in fake.sent_to(user)] == ["reply", "push", "push"]
    assert [t for s in fake.sent_to(user) for t in s.texts] == [m["text"] for m in messages]
    assert fake.violations == []


async def test_the_reminder_sender_pushes_once_per_idempotency_key(settings, spec, fake):
    async with fake.serve():
        sender = LineSender(LineApi(line_settings(settings, fake)))
        user = line_id()
        nudge = Reply("How is your week going?", "nudge.x", choices=(Choice("Fine", "nudge:1:done"),))
        delivery = Delivery(user=UserKey("line", user), idempotency_key=str(uuid.uuid4()))
        await sender.send(delivery, [nudge])
        await sender.send(delivery, [nudge])  # a retried reminder
        await sender.close()
    [push] = fake.sent_to(user)
    assert push.retry_key == delivery.idempotency_key and push.quick_replies[0]["data"] == "nudge:1:done"
    assert sender.platform == "line"
    assert fake.violations == []
