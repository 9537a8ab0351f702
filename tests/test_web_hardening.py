"""Issue 17 (2, 3, 6) for the web chat: reminder ids that never go back, a per-client rate limit,
and anonymous visitors who never did anything purged by the housekeeping."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from bot.delivery import Delivery
from bot.store.models import User
from bot.types import Reply, UserKey
from tests.conftest import settings_with
from tests.test_web_api import BASE, JSON, Visitor, _visitor_id, app, make_app, onboard, web  # noqa: F401


async def test_a_reminder_queued_after_the_table_emptied_is_not_taken_for_one_already_seen(web, runtime):
    """Before (SQLite): ids were reused once the table emptied; the page dropped the new reminder as
    already seen (its id was at or below the cursor) and the server deleted it unshown."""
    v = Visitor(web)
    await onboard(v)
    visitor = UserKey("web", _visitor_id(web, runtime))
    sender = runtime.senders["web"]
    cursor = 0
    for n in range(3):
        await sender.send(Delivery(user=visitor, idempotency_key=f"key-{n}"),
                          [Reply(text=f"reminder {n}", message_id="nudge.test")])
        got = (await web.get(f"/api/messages?after={cursor}")).json()["messages"]
        assert [m["reply"]["text"] for m in got] == [f"reminder {n}"], (n, cursor, got)
        cursor = got[0]["id"]  # the page's cursor; asking past it acknowledges (and empties the table)
        assert (await web.get(f"/api/messages?after={cursor}")).json()["messages"] == []
