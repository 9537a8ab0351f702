"""Reminders through the real LINE SDK client (handlers.line's sender) against a local fake of
the Messaging API that checks every request against LINE's OpenAPI description."""
from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from bot.reminders.dispatch import Dispatcher
from bot.types import Inbound, UserKey
from tests.fake_line_api import FakeLineApi, line_id
from tests.line_openapi import LineSpec


@pytest.fixture
def spec(shared_dir):
    return LineSpec(shared_dir)


async def test_a_reminder_is_pushed_with_its_retry_key_and_retried_once_on_a_500(settings, clock, spec):
    from bot.runtime import build_runtime
    from handlers.compose import install_senders

    fake = FakeLineApi(validate=spec.request_errors)
    async with fake.serve():
        env = settings.model_copy(update={"line_channel_secret": "secret", "line_channel_access_token": fake.token,
                                          "line_api_base_url": fake.url})
        runtime = await build_runtime(env, clock=clock, migrate=False)
        try:
            install_senders(runtime)
            assert "line" in runtime.senders
            aiko = UserKey("line", line_id())
            for words in ("キャンセル", "キャンセル", "平日の8時にリマインド"):
                await runtime.coach.handle(Inbound(user=aiko, kind="text", text=words, received_at=clock()))
            dispatcher = Dispatcher(runtime, rng=random.Random(1))

            # Tuesday 08:00 in Tokyo. LINE answers the first push with a 500; we try again later.
            clock.now = datetime(2026, 1, 5, 23, 0, tzinfo=timezone.utc)
            fake.fail("push", 500, message="internal error")
            first = await dispatcher.run_pass()
            assert (first.sent, first.retrying) == (0, 1)
            clock.advance(seconds=2)
            second = await dispatcher.run_pass()
            assert second.sent == 1

            [push] = fake.sent_to(aiko.user_id)
            pushes = [r for r in fake.requests if r.path == "/v2/bot/message/push"]
            keys = {r.headers["x-line-retry-key"] for r in pushes}
            assert len(pushes) == 2 and keys == {push.retry_key}  # the same key both times
            assert push.via == "push"
            # a question-style reminder is answered "考えてみた", not "できた"
            done = "考えてみた" if push.texts[-1].rstrip().endswith(("?", "？")) else "できた"
            assert [b["label"] for b in push.quick_replies] == [done, "今はいい", "話したい"]
            assert push.quick_replies[0]["data"] == f"nudge:{push.retry_key}:done"
            assert fake.violations == []

            # A second worker that somehow re-sends the row (same key) is refused by LINE with
            # 409, which the sender treats as already delivered: Aiko still has one message.
            from bot.delivery import Delivery
            from bot.types import Reply

            await runtime.senders["line"].send(Delivery(user=aiko, idempotency_key=push.retry_key),
                                               [Reply(text="dup", message_id="x")])
            assert len(fake.sent_to(aiko.user_id)) == 1
        finally:
            await runtime.close()
