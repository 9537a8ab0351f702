"""Issue 17 (2, 3, 6) for the web chat: reminder ids that never go back, a per-client rate limit,
and anonymous visitors who never did anything purged by the housekeeping."""
from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select

from bot.delivery import Delivery
from bot.store.models import User
from bot.types import Reply, UserKey
from tests.web_harness import BASE, JSON, Visitor, _visitor_id, make_app, onboard


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


async def test_one_client_gets_429_with_retry_after_past_its_rate(runtime):
    """Before: no limit anywhere; every cookie-less POST created a visitor (~200/s from one client)."""
    from handlers.web.ratelimit import RateLimiter

    app = make_app(runtime)
    from handlers.edge import edge_of

    chat = edge_of(runtime).web
    now = [0.0]
    chat.limiter = RateLimiter(10, clock=lambda: now[0])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        statuses = []
        for _ in range(15):  # no cookie kept: each would be a new visitor
            http.cookies.clear()
            r = await http.post("/api/message", json={"text": "hello"}, headers=JSON)
            statuses.append(r.status_code)
        assert statuses[:10] == [200] * 10 and set(statuses[10:]) == {429}
        assert int(r.headers["Retry-After"]) >= 1 and r.json()["error"]
        async with runtime.db.session() as s:
            web_users = (await s.execute(select(func.count()).select_from(User).where(User.platform == "web"))).scalar()
        assert web_users == 10
        now[0] += 6.0  # a token back every 6 s at 10 a minute
        http.cookies.clear()
        assert (await http.post("/api/message", json={"text": "hello"}, headers=JSON)).status_code == 200


async def test_idle_anonymous_visitors_are_purged_and_active_ones_kept(runtime, clock):
    from bot.store import repo
    from bot.store.models import CheckIn
    from handlers.web.outbox import idle_visitor_job

    async with runtime.db.session() as s:
        idle, _ = await repo.get_or_create_user(s, UserKey("web", "idle-visitor-000001"), language="en",
                                                timezone="UTC", now=clock())
        active, _ = await repo.get_or_create_user(s, UserKey("web", "checked-in-visitor-01"), language="en",
                                                  timezone="UTC", now=clock())
        s.add(CheckIn(user_id=active.id, at=clock(), energy=3))
        await s.commit()
    clock.advance(days=3)
    async with runtime.db.session() as s:
        recent, _ = await repo.get_or_create_user(s, UserKey("web", "recent-visitor-0001"), language="en",
                                                  timezone="UTC", now=clock())
        await s.commit()
    clock.advance(days=5)
    assert await idle_visitor_job(runtime) == 1
    async with runtime.db.session() as s:
        left = set((await s.execute(select(User.platform_user_id).where(User.platform == "web"))).scalars())
    assert left == {"checked-in-visitor-01", "recent-visitor-0001"}


async def test_expired_slack_oauth_states_are_purged(runtime, clock):
    from datetime import timezone

    from sqlalchemy import insert

    from bot.store.slack_models import slack_oauth_states
    from handlers.slack import purge_expired_oauth_states

    now = clock()
    naive = now.astimezone(timezone.utc).replace(tzinfo=None)
    async with runtime.db.session() as s:
        await s.execute(insert(slack_oauth_states), [
            {"state": "old", "expire_at": naive - timedelta(minutes=1)},
            {"state": "live", "expire_at": naive + timedelta(minutes=5)}])
        await s.commit()
    assert await purge_expired_oauth_states(runtime, now=now) == 1
    async with runtime.db.session() as s:
        assert list((await s.execute(select(slack_oauth_states.c.state))).scalars()) == ["live"]

