"""The platform APIs fail for a while, then recover: every reply is delivered exactly once.

The real app (inbox worker, LINE SDK client) runs in this loop behind uvicorn; the fake LINE API
answers 500, 429 with Retry-After, or holds its answer past the client's timeout. Each event's
reply is identified on the fake side by its reply token, or, once the adapter falls back to push,
by its X-Line-Retry-Key (the inbox's idempotency key for the event), and must appear once.
"""
from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.inbox import idempotency_key
from bot.runtime import build_runtime
from handlers.line.api import batch_retry_key
from tests.conftest import settings_with
from tests.fake_line_api import callback_body, line_id, text_event, webhook_headers
from tests.reliability.fakes import Fault, FaultyLineApi
from tests.reliability.inprocess import serve_app

SECRET = "reliability-secret"
TOKEN = "reliability-token"
EVENTS = 16


async def _send_events(fake: FaultyLineApi, url: str, n: int) -> list[dict]:
    """One text event from each of ``n`` new users, each acknowledged with a 200."""
    users = [line_id() for _ in range(n)]
    events = [text_event(u, "今週も夜中まで返信していました", reply_token=fake.issue_reply_token(u)) for u in users]
    async with httpx.AsyncClient(timeout=10) as client:
        for ev in events:
            body = callback_body(ev)
            r = await client.post(url + "/line/webhook", content=body, headers=webhook_headers(body, SECRET))
            assert r.status_code == 200, r.text
    return events


def _deliveries_per_event(fake: FaultyLineApi, events: list[dict]) -> dict[str, int]:
    """How many times each event's first message batch reached the user (reply token or retry key)."""
    counts = {}
    for ev in events:
        key = idempotency_key("line", ev["webhookEventId"])
        counts[ev["webhookEventId"]] = sum(
            1 for s in fake.sent if (s.via == "reply" and s.token == ev["replyToken"])
            or (s.via == "push" and s.retry_key == key))
    return counts


async def _run_with_faults(settings, faults: list[Fault], *, monkeypatch, client_timeout: float = 0.5):
    import handlers.line.api as line_api_module

    monkeypatch.setattr(line_api_module, "REQUEST_TIMEOUT", client_timeout)
    fake = FaultyLineApi(token=TOKEN)
    fake.faults = faults
    async with fake.serve():
        runtime = await build_runtime(settings_with(settings, line_channel_secret=SECRET,
                                                    line_channel_access_token=TOKEN,
                                                    line_api_base_url=fake.url), migrate=False)
        async with serve_app(runtime) as url:
            events = await _send_events(fake, url, EVENTS)
            try:
                await fake.wait_for(lambda: all(n >= 1 for n in _deliveries_per_event(fake, events).values()),
                                    timeout=75)
            finally:
                await asyncio.sleep(1.0)  # let any retry still in flight land, so a double would show
            counts = await runtime.inbox.counts()
        return fake, events, counts


FAULTS = {
    "500 for two seconds": [Fault("500", seconds=2.0)],
    "429 with Retry-After, ten times": [Fault("429", count=10, retry_after=1)],
    # Issue 17: eight tries of Retry-After (1 s) used to be the end of it: every event was
    # ``failed`` after ~8 s. Retries are bounded by time now, with a growing backoff.
    "429 with Retry-After: 1 for twelve seconds": [Fault("429", seconds=12.0, retry_after=1)],
    "reply hangs unprocessed, push answers 500": [Fault("timeout", count=8, processed=False, hold=2.0,
                                                        paths=("reply",)),
                                                  Fault("500", count=5, paths=("push",))],
    "push accepted but the answer never comes": [Fault("timeout", count=12, processed=True, hold=2.0,
                                                       paths=("push",)),
                                                 Fault("500", count=EVENTS, paths=("reply",))],
}


@pytest.mark.parametrize("scenario", list(FAULTS))
async def test_line_replies_survive_api_faults_exactly_once(settings, monkeypatch, scenario):
    fake, events, counts = await _run_with_faults(settings, FAULTS[scenario], monkeypatch=monkeypatch)

    per_event = _deliveries_per_event(fake, events)
    assert sum(fake.injected.values()) > 0, "the fault never fired"
    assert [e for e, n in per_event.items() if n == 0] == [], "replies lost"
    assert [e for e, n in per_event.items() if n > 1] == [], "replies doubled"
    assert fake.violations == []
    # Every first batch that went by push carried its event's key, and each key went out once.
    push_keys = [s.retry_key for s in fake.sent if s.via == "push"]
    assert len(push_keys) == len(set(push_keys))
    expected_keys = {batch_retry_key(idempotency_key("line", e["webhookEventId"]), i)
                     for e in events for i in range(4)}
    assert None not in push_keys and set(push_keys) <= expected_keys
    assert counts.get("done", 0) == EVENTS and counts.get("failed", 0) == 0, counts


@pytest.mark.xfail(strict=True, reason="LINE's reply API has no idempotency key: when a reply was accepted but "
                   "its answer was lost, the retry finds the token used and pushes again (a known double; "
                   "see docs/reliability.md)")
async def test_line_reply_accepted_but_answer_lost_is_not_doubled(settings, monkeypatch):
    fake, events, _ = await _run_with_faults(
        settings, [Fault("timeout", count=3, processed=True, hold=2.0, paths=("reply",))], monkeypatch=monkeypatch)
    assert all(n == 1 for n in _deliveries_per_event(fake, events).values())
