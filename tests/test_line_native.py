"""LINE, native: the loading animation, Flex check-in cards and trend, the rich menu linked by
language, unsend, and a welcome back after an unblock. bansou runs for real (uvicorn, inbox worker,
the real SDK client) against the local LINE stand-in; every request is checked against LINE's
OpenAPI file."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from bot.store.models import CheckIn, StoredMessage, User
from handlers.line.richmenu import load_spec
from handlers.line.richmenu_setup import setup_rich_menus
from tests.fake_line_api import (
    FakeLineApi, follow_event, group_text_event, line_id, postback_event, running_bansou, text_event, unfollow_event,
    unsend_event,
)
from tests.line_openapi import LineSpec

CONTENT = Path(__file__).resolve().parents[1] / "content"


@pytest.fixture
def spec(shared_dir):
    return LineSpec(shared_dir)


async def _menus(fake: FakeLineApi) -> dict[str, str]:
    """Run the rich menu set-up against the fake (as `bansou line setup` does); language -> menu id."""
    from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration

    async with AsyncApiClient(Configuration(host=fake.url, access_token=fake.token)) as client:
        report = await setup_rich_menus(AsyncMessagingApi(client), load_spec(CONTENT), CONTENT, data_host=fake.url)
    return report.menus


async def _user(line, user_id: str) -> User:
    async with line.runtime.db.session() as session:
        return (await session.execute(select(User).where(User.platform_user_id == user_id))).scalar_one()


async def _tap(line, fake, who: str, data: str) -> list:
    before = len(fake.sent_to(who))
    await line.post(postback_event(who, data, reply_token=fake.issue_reply_token(who)))
    await fake.wait_for(lambda: len(fake.sent_to(who)) > before)
    return fake.sent_to(who)[before:]


async def test_follow_links_the_menu_in_the_users_language_and_a_language_change_relinks(settings, clock, spec):
    fake = FakeLineApi(validate=spec.request_errors)
    async with fake.serve():
        menus = await _menus(fake)
        async with running_bansou(settings, clock, fake=fake, spec=spec) as line:
            ken = line_id()
            fake.profiles[ken] = {"language": "en"}
            await line.post(follow_event(ken, reply_token=fake.issue_reply_token(ken)))
            await fake.wait_for(lambda: fake.user_richmenus.get(ken) == menus["en"])

            await _tap(line, fake, ken, "cmd:language_ja")
            await fake.wait_for(lambda: fake.user_richmenus.get(ken) == menus["ja"])
            assert (await _user(line, ken)).language == "ja"
    assert fake.violations == []


async def test_loading_animation_in_one_to_one_chats_only(settings, clock, spec):
    fake = FakeLineApi(validate=spec.request_errors)
    async with fake.serve():
        async with running_bansou(settings, clock, fake=fake, spec=spec) as line:
            aiko = line_id()
            await line.post(text_event(aiko, "こんにちは", reply_token=fake.issue_reply_token(aiko)))
            await fake.wait_for(lambda: fake.sent_to(aiko) and fake.loading)
            assert fake.loading == [{"chatId": aiko, "loadingSeconds": 20}]

            group, member = line_id("C"), line_id()
            await line.post(group_text_event(group, member, "hi", reply_token=fake.issue_reply_token(group)))
            await fake.wait_for(lambda: fake.sent_to(group))
            await line.settle()
            assert [body["chatId"] for body in fake.loading] == [aiko]
    assert fake.violations == []


async def test_a_finished_check_in_shows_a_flex_card_and_my_trend_draws_the_weeks(settings, clock, spec):
    fake = FakeLineApi(validate=spec.request_errors)
    async with fake.serve():
        async with running_bansou(settings, clock, fake=fake, spec=spec) as line:
            mei = line_id()
            await line.post(follow_event(mei, reply_token=fake.issue_reply_token(mei)))
            await fake.wait_for(lambda: fake.sent_to(mei))

            [empty] = await _tap(line, fake, mei, "view:trend")
            assert empty.messages[0]["type"] == "flex"
            assert "まだチェックインがありません" in empty.messages[0]["altText"]

            await _tap(line, fake, mei, "go:checkin")
            await _tap(line, fake, mei, "c:checkin:energy:4")
            await _tap(line, fake, mei, "c:checkin:boundaries:2")
            await _tap(line, fake, mei, "c:checkin:client_respect:5")
            await _tap(line, fake, mei, "c:checkin:reflection:skip")
            [done] = await _tap(line, fake, mei, "c:checkin:question:done")
            kinds = [m["type"] for m in done.messages]
            assert kinds[0] == "text" and "flex" in kinds
            card = done.messages[kinds.index("flex")]
            assert card["altText"].startswith("チェックインを記録しました")
            assert "エネルギー 4" in card["altText"] and "境界線 2" in card["altText"]
            # five pips per metric, filled up to the score
            rows = card["contents"]["body"]["contents"]
            filled = [sum(p["backgroundColor"] != "#E8E3DA" for p in row["contents"][1]["contents"]) for row in rows]
            assert filled == [4, 2, 5]
            async with line.runtime.db.session() as session:
                [saved] = (await session.execute(select(CheckIn))).scalars().all()
            assert (saved.energy, saved.boundaries, saved.client_respect) == (4, 2, 5)

            [trend] = await _tap(line, fake, mei, "view:trend")
            chart = trend.messages[0]
            assert chart["type"] == "flex" and "記録した週: 1週" in chart["altText"]
            energy = chart["contents"]["body"]["contents"][0]
            assert energy["contents"][0]["contents"][1]["text"] == "4.0"
            bars = energy["contents"][1]["contents"]
            assert len(bars) == 8 and bars[-1]["contents"][0]["backgroundColor"] != "#E8E3DA"
            assert all(b["contents"][0]["backgroundColor"] == "#E8E3DA" for b in bars[:-1])
    assert fake.violations == []


async def test_unsend_deletes_the_kept_copy_of_that_message_only(settings, clock, spec):
    fake = FakeLineApi(validate=spec.request_errors)
    async with fake.serve():
        async with running_bansou(settings, clock, fake=fake, spec=spec) as line:
            sora = line_id()
            await line.post(follow_event(sora, reply_token=fake.issue_reply_token(sora)))
            await fake.wait_for(lambda: fake.sent_to(sora))
            for answer in ("日本語", "はい", "リマインドなし"):  # onboarding, typed: Sora agrees to us keeping words
                n = len(fake.sent_to(sora))
                await line.post(text_event(sora, answer, reply_token=fake.issue_reply_token(sora)))
                await fake.wait_for(lambda: len(fake.sent_to(sora)) > n)
            async with line.runtime.db.session() as session:
                user = (await session.execute(select(User).where(User.platform_user_id == sora))).scalar_one()
                assert user.consent_store_text is True
                await session.execute(delete(StoredMessage))  # start the count after onboarding's answers
                await session.commit()
            first = text_event(sora, "一つ目のメッセージ", reply_token=fake.issue_reply_token(sora))
            second = text_event(sora, "二つ目のメッセージ", reply_token=fake.issue_reply_token(sora))
            for event in (first, second):
                n = len(fake.sent_to(sora))
                await line.post(event)
                await fake.wait_for(lambda: len(fake.sent_to(sora)) > n)

            async def kept() -> list[str]:
                async with line.runtime.db.session() as session:
                    return list((await session.execute(select(StoredMessage.text).order_by(StoredMessage.id))).scalars())

            assert await kept() == ["一つ目のメッセージ", "二つ目のメッセージ"]
            sent_before = len(fake.sent)
            assert (await line.post(unsend_event(sora, first["message"]["id"]))).status_code == 200
            for _ in range(200):  # the inbox worker may be the one handling it
                if len(await kept()) < 2:
                    break
                await line.settle()
                await asyncio.sleep(0.02)
            assert await kept() == ["二つ目のメッセージ"]
            assert len(fake.sent) == sent_before  # nothing said about it
    assert fake.violations == []


async def test_unblock_says_welcome_back_instead_of_onboarding_again(settings, clock, spec):
    fake = FakeLineApi(validate=spec.request_errors)
    async with fake.serve():
        async with running_bansou(settings, clock, fake=fake, spec=spec) as line:
            rin = line_id()
            await line.post(follow_event(rin, reply_token=fake.issue_reply_token(rin)))
            await fake.wait_for(lambda: fake.sent_to(rin))
            onboarding = fake.sent_to(rin)[0].texts[0]
            await line.post(unfollow_event(rin))
            for _ in range(200):
                if not (await _user(line, rin)).active:
                    break
                await line.settle()
                await asyncio.sleep(0.02)
            assert (await _user(line, rin)).active is False

            await line.post(follow_event(rin, reply_token=fake.issue_reply_token(rin), unblocked=True))
            await fake.wait_for(lambda: len(fake.sent_to(rin)) == 2)
            [hello] = fake.sent_to(rin)[1].texts
            assert hello.startswith("おかえりなさい") and hello != onboarding
            assert (await _user(line, rin)).active is True
            async with line.runtime.db.session() as session:
                from bot.store.models import Conversation

                assert (await session.execute(select(Conversation))).first() is None  # no flow restarted

            # Someone new who unblocks (we forgot them, or never knew them) is onboarded as usual.
            new = line_id()
            await line.post(follow_event(new, reply_token=fake.issue_reply_token(new), unblocked=True))
            await fake.wait_for(lambda: fake.sent_to(new))
            assert fake.sent_to(new)[0].texts[0] == onboarding
    assert fake.violations == []
