"""LINE's monthly message quota: fetched by the worker's periodic job, shown on /metrics from the
database (the same in every process), and reminders skipped with a recorded reason before it runs
out, while replies (free of quota) still go."""
from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bot.reminders.dispatch import Dispatcher
from bot.reminders.models import ReminderOutbox
from bot.types import Inbound, UserKey
from handlers.edge import edge_of
from handlers.line.quota import QuotaSnapshot, hold_reason, refresh_quota
from tests.fake_line_api import FakeLineApi, line_id, running_bansou, text_event
from tests.line_openapi import LineSpec

NOW = datetime(2026, 1, 5, tzinfo=timezone.utc)


@pytest.fixture
def spec(shared_dir):
    return LineSpec(shared_dir)


def test_hold_reason_keeps_a_reserve_and_counts_pushes_since_the_snapshot():
    assert hold_reason(None) is None
    assert hold_reason(QuotaSnapshot(limit=None, used=10**9, fetched_at=NOW)) is None  # no monthly limit
    assert hold_reason(QuotaSnapshot(limit=1000, used=900, fetched_at=NOW)) is None
    assert hold_reason(QuotaSnapshot(limit=1000, used=900, fetched_at=NOW), pushed_since=49) is None
    held = hold_reason(QuotaSnapshot(limit=1000, used=900, fetched_at=NOW), pushed_since=50)
    assert held is not None and "50 of 1000 left" in held
    assert hold_reason(QuotaSnapshot(limit=100, used=89, fetched_at=NOW)) is None  # the reserve is at least 10
    assert hold_reason(QuotaSnapshot(limit=100, used=90, fetched_at=NOW)) is not None
    assert "0 of 200 left" in hold_reason(QuotaSnapshot(limit=200, used=250, fetched_at=NOW))


async def test_quota_on_metrics_and_reminders_skipped_before_it_runs_out_but_replies_still_go(settings, clock, spec):
    fake = FakeLineApi(validate=spec.request_errors)
    fake.quota, fake.quota_used = 500, 480
    async with fake.serve():
        async with running_bansou(settings, clock, fake=fake, spec=spec) as line:
            rt = line.runtime
            # The worker's periodic job (the web process serves /metrics from what it stored).
            assert ("line_quota" in {name for name, _, _ in rt.periodic})
            snapshot = await refresh_quota(rt)
            assert (snapshot.limit, snapshot.used) == (500, 480)
            edge_of(rt).line_api.quota = None  # the web process never fetched: it reads the database
            metrics = (await line.http.get("/metrics")).text
            assert "bansou_line_message_quota 500.0" in metrics
            assert "bansou_line_message_quota_consumption 480.0" in metrics
            quota_calls = [r for r in fake.requests if r.path.startswith("/v2/bot/message/quota")]
            await line.http.get("/metrics")
            assert [r for r in fake.requests if r.path.startswith("/v2/bot/message/quota")] == quota_calls

            aiko = UserKey("line", line_id())
            for words in ("日本語", "点数だけ", "平日の8時にリマインド"):  # onboarding, typed; the time ends it
                await rt.coach.handle(Inbound(user=aiko, kind="text", text=words, received_at=clock()))
            clock.now = datetime(2026, 1, 5, 23, 0, tzinfo=timezone.utc)  # Tuesday 08:00 in Tokyo
            result = await Dispatcher(rt, rng=random.Random(1)).run_pass()
            assert (result.sent, result.skipped) == (0, 1)
            async with rt.db.session() as session:
                [row] = (await session.execute(select(ReminderOutbox))).scalars().all()
            assert row.status == "skipped" and "quota nearly used" in row.reason
            assert fake.sent_to(aiko.user_id) == []

            # A reply is free of quota: Aiko writing still gets an answer.
            await line.post(text_event(aiko.user_id, "こんにちは", reply_token=fake.issue_reply_token(aiko.user_id)))
            await fake.wait_for(lambda: fake.sent_to(aiko.user_id))
            assert fake.sent_to(aiko.user_id)[0].via == "reply"

            # The next month LINE resets the count: the next slot is sent.
            fake.quota_used = 0
            clock.advance(days=1)
            await refresh_quota(rt)
            result = await Dispatcher(rt, rng=random.Random(1)).run_pass()
            assert result.sent == 1
            assert fake.sent_to(aiko.user_id)[-1].via == "push"
    assert fake.violations == []
