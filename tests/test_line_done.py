"""The LINE channel's definition of done, as one transcript:

with LINE_CHANNEL_SECRET, LINE_CHANNEL_ACCESS_TOKEN and LINE_API_BASE_URL pointed at a local
server, a signed text event gets a reply through the reply API with quick replies, a redelivered
copy gets nothing, and a follow event starts onboarding.
"""
from __future__ import annotations

import copy

import pytest

from bot.settings import load_settings
from tests.fake_line_api import (
    CHANNEL_SECRET,
    FakeLineApi,
    follow_event,
    line_id,
    running_bansou,
    text_event,
)
from tests.line_openapi import LineSpec


@pytest.fixture
def spec(shared_dir):
    return LineSpec(shared_dir)


async def test_line_is_done(settings, clock, spec, tmp_path):
    fake = FakeLineApi(validate=spec.request_errors)
    async with fake.serve():
        # The operator's three settings, read from the environment like `bansou serve` does.
        env = load_settings({"DATABASE_URL": settings.database_url, "CONTENT_DIR": str(settings.content_dir),
                             "LINE_CHANNEL_SECRET": CHANNEL_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": fake.token,
                             "LINE_API_BASE_URL": fake.url}, dotenv=tmp_path / "none.env")
        assert env.line_enabled and env.line_api_base_url == fake.url
        async with running_bansou(env, clock, fake=fake, spec=spec) as line:
            aiko = line_id()

            # Aiko writes; LINE posts a signed text event; bansou acknowledges at once...
            hello = text_event(aiko, "こんにちは", reply_token=fake.issue_reply_token(aiko))
            response = await line.post(hello)
            assert response.status_code == 200

            # ...and answers through the reply API (free of quota), buttons as quick replies.
            await fake.wait_for(lambda: fake.sent_to(aiko))
            [answer] = fake.sent_to(aiko)
            assert answer.via == "reply" and answer.token == hello["replyToken"]
            assert "伴走" in answer.texts[0]
            assert [b["label"] for b in answer.quick_replies] == ["日本語", "English"]
            assert all(b["type"] == "postback" and b["displayText"] == b["label"] for b in answer.quick_replies)

            # LINE redelivers the same event: acknowledged, but Aiko hears nothing more.
            again = copy.deepcopy(hello)
            again["deliveryContext"]["isRedelivery"] = True
            assert (await line.post(again)).status_code == 200
            await line.settle()
            assert len(fake.sent_to(aiko)) == 1

            # Ken adds bansou as a friend: onboarding starts, in his profile's language.
            ken = line_id()
            fake.profiles[ken] = {"language": "en"}
            assert (await line.post(follow_event(ken, reply_token=fake.issue_reply_token(ken)))).status_code == 200
            await fake.wait_for(lambda: fake.sent_to(ken))
            [welcome] = fake.sent_to(ken)
            assert welcome.via == "reply"
            assert "bansou" in welcome.texts[0] and "はじめまして" not in welcome.texts[0]
            assert [b["label"] for b in welcome.quick_replies] == ["日本語", "English"]

        assert fake.violations == []
