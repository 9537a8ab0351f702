"""Issue 17 (7): one body can never fail the webhooks stored with it in a group commit, and numbers
out of a double's range (``1e400`` reads as infinity, which PostgreSQL's json refuses) are refused
at parse time with a 400, signed or not."""
from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select

from bot.inbox import IncomingEvent
from bot.store.models import InboxEvent
from handlers.line.events import parse_callback, sort_events
from handlers.line.webhook import LineWebhook
from tests.conftest import BACKEND, settings_with
from tests.fake_line_api import callback_body, line_id, text_event, webhook_headers

SECRET = "isolation-secret"


@pytest.fixture
async def webhook(settings, clock):
    from bot.runtime import build_runtime

    rt = await build_runtime(settings_with(settings, line_channel_secret=SECRET, line_channel_access_token="t"),
                             clock=clock, migrate=False)
    yield LineWebhook(rt)
    await rt.close()


async def _stored_ids(rt) -> set[str]:
    async with rt.db.session() as s:
        return set((await s.execute(select(InboxEvent.event_id))).scalars())


async def test_a_number_out_of_range_is_refused_with_400_before_storing(webhook):
    transport = httpx.ASGITransport(app=webhook)
    async with httpx.AsyncClient(transport=transport, base_url="http://line") as http:
        for number in ("1e400", "-1E999", "1.5e308999"):
            ev = text_event(line_id(), "hello", reply_token=None)
            body = callback_body(ev).replace(b'"events"', b'"size": ' + number.encode() + b', "events"', 1)
            r = await http.post("/line/webhook", content=body, headers=webhook_headers(body, SECRET))
            assert r.status_code == 400, (number, r.status_code, r.text)
    assert await _stored_ids(webhook.runtime) == set()


@pytest.mark.skipif(BACKEND != "postgres", reason="the poison is a row only PostgreSQL refuses")
async def test_one_poisoned_request_does_not_fail_the_others_in_its_group_commit(webhook):
    """Before: the whole group commit failed and every request in it answered 503."""
    good = [[text_event(line_id(), f"good {i}", reply_token=None)] for i in range(4)]
    # A row PostgreSQL refuses (a NUL in a text column), standing for any poison that gets past the
    # parser's checks (as 1e400 once did).
    poisoned = [IncomingEvent(platform="line", event_id="poisoned", user_key="line:U\x00", payload={"type": "x"})]
    requests = [sort_events(parse_callback(callback_body(*g))).keep for g in good]
    requests.insert(2, poisoned)
    # stored together: every store() call is queued before the writer runs
    results = await asyncio.gather(*(webhook.store.store(events) for events in requests), return_exceptions=True)
    assert isinstance(results[2], Exception)
    assert [isinstance(r, Exception) for i, r in enumerate(results) if i != 2] == [False] * 4, results
    assert await _stored_ids(webhook.runtime) == {g[0]["webhookEventId"] for g in good}
