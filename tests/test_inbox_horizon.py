"""Issue 17 (2): nothing acknowledged is ever dropped.

Retries are bounded by time, not by a count: a storm of 429s with a short Retry-After no longer
uses the tries up in seconds; past the horizon a delivery is ``dead`` (reason kept, counted on
/metrics) and ``bansou inbox retry`` replays it with the same idempotency key. The real Slack
AsyncWebClient talks to the local Slack stand-in; the event is signed as Slack signs it."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select
from starlette.applications import Starlette

from bot.inbox import InboxWorker, backoff_delay
from bot.store.models import InboxEvent
from tests.fake_slack_api import dm


async def _row(slack) -> InboxEvent:
    async with slack.runtime.db.session() as s:
        return (await s.execute(select(InboxEvent))).scalar_one()


async def _run_until_final(slack, worker, *, limit: int = 400) -> list[float]:
    """Process; whenever the row waits, move the clock to its next try. Returns the waits."""
    waits = []
    for _ in range(limit):
        await worker.run_once()
        row = await _row(slack)
        if row.status not in ("pending", "sending"):
            return waits
        wait = (row.next_attempt_at - slack.runtime.clock()).total_seconds()
        waits.append(wait)
        slack.runtime.clock.now = row.next_attempt_at
    raise AssertionError("never reached a final state")


def test_backoff_keeps_growing_under_a_short_retry_after():
    assert backoff_delay(1, retry_after=1) == 1
    assert backoff_delay(8, retry_after=1) == 128
    assert backoff_delay(3, retry_after=300) == 300
    assert backoff_delay(50) == backoff_delay(60) == 900  # capped
    assert backoff_delay(2, retry_after=float("nan")) == 2


async def test_a_long_storm_of_429_with_retry_after_1_loses_nothing(slack):
    """Before: eight tries, each after Retry-After (1 s): the event was ``failed`` after ~8 s."""
    for _ in range(30):
        slack.api.fail_next("chat.postMessage", status=429, body={"ok": False, "error": "ratelimited"},
                            headers={"Retry-After": "1"})
    assert (await slack.post_event(dm("UBEN", "hello"), event_id="Ev-storm")).status_code == 200
    waits = await _run_until_final(slack, slack.worker)
    row = await _row(slack)
    assert row.status == "done", (row.status, row.error)
    assert row.attempts == 30
    calls = slack.posts()
    assert len(calls) == 31  # 30 refused, then one that went through
    assert all(w >= 1 for w in waits) and max(waits) >= 256, waits  # Retry-After honoured, backoff grew


async def test_past_the_horizon_a_delivery_is_dead_counted_and_replayed_by_the_cli(slack, tmp_path):
    worker = InboxWorker(slack.runtime.db, {"slack": slack.channel.processor}, clock=slack.runtime.clock,
                         horizon=timedelta(hours=1))
    slack.runtime.inbox = worker
    for _ in range(200):
        slack.api.fail_next("chat.postMessage", status=500, body={"ok": False, "error": "internal_error"})
    assert (await slack.post_event(dm("UBEN", "hello"), event_id="Ev-dead")).status_code == 200
    received = slack.runtime.clock()
    await _run_until_final(slack, worker)
    row = await _row(slack)
    assert row.status == "dead"
    assert "out of time" in row.error and "internal_error" in row.error
    assert row.finished_at >= received + timedelta(hours=1)
    assert row.replies and row.replies["replies"]
    tries = len(slack.posts())
    assert 8 < tries < 30  # tried for the whole hour, with a growing backoff

    from handlers.metrics import metrics_route

    app = Starlette(routes=[metrics_route(slack.runtime)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as http:
        text = (await http.get("/metrics")).text
    assert 'bansou_inbox_events{status="dead"} 1.0' in text

    slack.api.failures.clear()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LINE_", "SLACK_"))}
    env["DATABASE_URL"] = slack.runtime.settings.database_url
    bansou = str(Path(sys.executable).with_name("bansou"))
    later = (row.finished_at + timedelta(seconds=1)).isoformat()
    done = subprocess.run([bansou, "inbox", "retry", "--since", later], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("0 "), done.stdout  # it died before --since
    done = subprocess.run([bansou, "inbox", "retry", "--since", received.isoformat()], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("1 "), (done.stdout, done.stderr)
    bad = subprocess.run([bansou, "inbox", "retry", "--since", "yesterday"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "ISO-8601" in bad.stderr

    await worker.run_once()
    row = await _row(slack)
    assert row.status == "done"
    assert len(slack.posts()) == tries + 1


async def test_a_dead_delivery_keeps_its_replies_only_as_long_as_text_is_kept(slack):
    from bot.retention import purge_expired

    worker = InboxWorker(slack.runtime.db, {"slack": slack.channel.processor}, clock=slack.runtime.clock,
                         horizon=timedelta(minutes=1))
    for _ in range(50):
        slack.api.fail_next("chat.postMessage", status=503, body={"ok": False, "error": "service_unavailable"})
    await slack.post_event(dm("UBEN", "hello"), event_id="Ev-old-dead")
    await _run_until_final(slack, worker)
    assert (await _row(slack)).status == "dead"
    await purge_expired(slack.runtime)
    assert (await _row(slack)).status == "dead"  # still there to replay
    slack.runtime.clock.now += timedelta(days=slack.runtime.settings.message_retention_days + 1)
    await purge_expired(slack.runtime)
    async with slack.runtime.db.session() as s:
        assert (await s.execute(select(InboxEvent))).first() is None
