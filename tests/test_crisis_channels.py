"""Crisis care on every channel: LINE (URI actions, checked against LINE's OpenAPI files), Slack
(the person's DM only, never a channel), the web API, `bansou chat`; and what is kept (kinds and
times, never words without consent) and counted (/metrics: counts only)."""
from __future__ import annotations

import json
import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot.metrics import metrics_of
from bot.store import repo
from bot.store.models import Conversation, SignalRecord, StoredMessage
from bot.types import Inbound, UserKey
from tests.fake_line_api import FakeLineApi, line_id, running_bansou, text_event
from tests.fake_slack_api import dm
from tests.line_openapi import LineSpec

JSON = {"Content-Type": "application/json", "Origin": "http://testserver"}


# ---------------------------------------------------------------------------------------- LINE


@pytest.fixture
def spec(shared_dir):
    return LineSpec(shared_dir)


async def test_line_crisis_replies_call_and_open_the_support_lines_and_pass_the_openapi_check(settings, clock, spec):
    fake = FakeLineApi(validate=spec.request_errors)
    async with fake.serve():
        async with running_bansou(settings, clock, fake=fake, spec=spec) as line:
            aoi = line_id()
            await line.post(text_event(aoi, "もう死にたい", reply_token=fake.issue_reply_token(aoi)))
            await fake.wait_for(lambda: fake.sent_to(aoi))
            [first] = fake.sent_to(aoi)
            assert "0120-279-338" in first.texts[0] and "988" not in "".join(first.texts)
            actions = first.quick_replies
            tel = [a for a in actions if a["type"] == "uri"]
            assert tel and tel[0]["uri"] == "tel:0120279338" and tel[0]["label"].startswith("☎")
            assert not any(a["type"] == "postback" and a["data"].startswith(("go:", "c:menu")) for a in actions)

            await line.post(text_event(aoi, "電話は無理。誰にも話せない", reply_token=fake.issue_reply_token(aoi)))
            await fake.wait_for(lambda: len(fake.sent_to(aoi)) == 2)
            second = fake.sent_to(aoi)[1]
            assert "https://talkme.jp/" in second.texts[0]
            assert {"type": "uri", "label": "💬 あなたのいばしょ", "uri": "https://talkme.jp/"} in second.quick_replies
            await line.settle()
    assert fake.violations == []  # every request matched LINE's OpenAPI description and its limits


# ---------------------------------------------------------------------------------------- Slack


async def test_slack_a_crisis_mention_in_a_channel_is_answered_in_the_dm_only(slack):
    await slack.post_event(dm("UBEN", "hello", ts="1.0"), event_id="Ev-1")
    await slack.process()
    before = len(slack.posts())
    mention = {"type": "app_mention", "user": "UBEN", "text": "<@UBOT> honestly I want to die", "ts": "1700000600.000100",
               "channel": "C0TEAM", "event_ts": "1700000600.000100"}
    await slack.post_event(mention, event_id="Ev-2")
    await slack.process()
    # The shared channel gets only the pointer to the DM that every mention gets (issue 17: the
    # same words whatever was said, so it gives nothing away); everything else is in the DM.
    in_channel = [p for p in slack.posts()[before:] if p.params["channel"] == "C0TEAM"]
    assert [slack.texts(p) for p in in_channel] == [slack.runtime.content.text("slack.dm_pointer", "en")]
    posts = [p for p in slack.posts()[before:] if p.params["channel"] != "C0TEAM"]
    assert posts, "the person is answered"
    assert all(p.params["channel"].startswith("D") and not p.params.get("thread_ts") for p in posts)
    blocks = posts[0].params["blocks"]
    assert blocks[0]["type"] == "header"
    buttons = slack.buttons(posts[-1])
    links = [b for b in buttons if "url" in b]
    assert links and all(b["url"].startswith("https://") and "value" not in b for b in links)
    assert not any(b.get("value", "").startswith(("go:", "c:menu")) for b in buttons)
    # Ben's Slack profile says Europe/London: the international directories, no Japanese or US number
    assert "findahelpline.com" in posts[0].params["text"]
    assert "0120-" not in posts[0].params["text"] and "988" not in posts[0].params["text"]
    # an ordinary mention still answers in its thread
    await slack.post_event({**mention, "text": "<@UBOT> resume", "ts": "1700000700.000100",
                            "event_ts": "1700000700.000100"}, event_id="Ev-3")
    await slack.process()
    assert slack.posts()[-1].params["channel"].startswith("D")  # still crisis care: how are you, in the DM


# ---------------------------------------------------------------------------------------- web


@pytest.fixture
async def web(runtime):
    from handlers.app import create_app

    app = create_app(runtime, scheduler=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


async def test_web_the_panel_carries_call_and_chat_links_and_care_continues(web):
    r = await web.post("/api/start", json={"language": "ja"}, headers=JSON)
    assert r.status_code == 200, r.text
    out = (await web.post("/api/message", json={"text": "もう死にたい"}, headers=JSON)).json()
    assert out["replies"][0]["style"] == "crisis"
    values = [c["value"] for r in out["replies"] for c in r["choices"]]
    assert "tel:0120279338" in values and "https://talkme.jp/" in values
    out = (await web.post("/api/message", json={"text": "電話は無理"}, headers=JSON)).json()
    assert out["replies"][0]["style"] == "crisis" and "https://talkme.jp/" in out["replies"][0]["text"]
    assert out["state"] == "crisis_care:listening"
    assert (await web.get("/api/session")).json()["crisis_paused"] is True


# ---------------------------------------------------------------------------------------- bansou chat


def test_bansou_chat_shows_where_the_support_lines_go(database_url):
    import os
    import subprocess
    import sys

    env = dict(os.environ, DATABASE_URL=database_url, LOG_LEVEL="WARNING")
    run = subprocess.run([sys.executable, "-m", "handlers.cli", "chat", "--user", "kai", "--lang", "en"], env=env,
                         capture_output=True, text=True, timeout=120, input="I want to die\nmenu\n")
    assert run.returncode == 0, run.stderr
    # a phone line open now (which one depends on the hour in Tokyo), shown with where it goes
    assert re.search(r"☎ [^<\n]+ <tel:0\d+>", run.stdout), run.stdout
    assert "Before we go back" in run.stdout  # "menu" in care: how are you, not the menu


# ---------------------------------------------------------------------------------------- privacy, metrics


async def _say(runtime, user: UserKey, text: str):
    return await runtime.coach.handle(Inbound(user=user, kind="text", text=text, received_at=runtime.clock()))


@pytest.mark.parametrize("consent", [False, True])
async def test_a_crisis_episode_is_kept_as_kinds_and_times_and_words_only_with_consent(runtime, consent):
    me = UserKey("test", f"privacy-{consent}")
    await _say(runtime, me, "hello")
    async with runtime.db.session() as s:
        user = await repo.get_user(s, me)
        user.consent_store_text = consent
        await s.commit()
    await _say(runtime, me, "I want to die, nobody at work would notice")
    await _say(runtime, me, "my manager shouted at me again today")
    async with runtime.db.session() as s:
        user = await repo.get_user(s, me)
        signals = (await s.execute(select(SignalRecord).where(SignalRecord.user_id == user.id))).scalars().all()
        stored = (await s.execute(select(StoredMessage).where(StoredMessage.user_id == user.id))).scalars().all()
        convo = (await s.execute(select(Conversation).where(Conversation.user_id == user.id))).scalar_one()
        assert user.crisis_paused_at == runtime.clock()
    crisis = [x for x in signals if x.kind == "crisis"]
    assert crisis and all(x.at == runtime.clock() for x in crisis)
    assert convo.flow == "crisis_care" and "manager" not in json.dumps(convo.vars)
    if consent:
        assert crisis[0].evidence and any("manager" in m.text for m in stored)
    else:
        assert all(x.evidence is None for x in signals) and stored == []


async def test_metrics_count_crisis_care_and_never_hold_words(runtime):
    metrics = metrics_of(runtime)
    me = UserKey("test", "metrics")
    await _say(runtime, me, "I want to die")
    await _say(runtime, me, "I can't phone")
    await _say(runtime, me, "I'm ok")
    text = metrics.render().decode()
    samples = {(s.name, s.labels.get("event")): s.value for f in text_string_to_metric_families(text)
               for s in f.samples if s.name == "bansou_crisis_care_total"}
    assert samples[("bansou_crisis_care_total", "entered_clear")] == 1
    assert samples[("bansou_crisis_care_total", "resources_shown")] == 1
    assert samples[("bansou_crisis_care_total", "text_services_shown")] == 1
    assert "want to die" not in text and "phone" not in text.lower().replace("bansou", "")
