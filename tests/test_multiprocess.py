"""Many processes, one PostgreSQL: two ``bansou serve --no-scheduler`` and two ``bansou worker``
(real child processes on 127.0.0.1) hold every guarantee.

* Each user's events, posted to the two web processes in turn, are answered in order, exactly once
  (a redelivery sent to the other process is not answered again).
* Reminders due for many users with two workers racing: each is sent once.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from bot.reminders.models import ReminderOutbox, ReminderPrefs
from bot.store.db import Database
from bot.store.models import InboxEvent, User
from tests.fake_line_api import FakeLineApi, line_id, text_event
from tests.procs import ProcessGroup
from tests.test_ops_processes import line_env, post

pytestmark = pytest.mark.postgres_only

USERS = 8
MESSAGES_EACH = 5
REMINDER_USERS = 40


async def test_two_web_processes_answer_each_users_events_in_order_exactly_once(database_url, tmp_path):
    with FakeLineApi() as line, ProcessGroup(tmp_path) as group:
        env = line_env(database_url, line)
        webs = [group.server(env=env, name=f"web{i}") for i in (1, 2)]
        for w in webs:
            await w.wait_ready()
        users = [line_id() for _ in range(USERS)]
        tokens: dict[str, list[str]] = {u: [] for u in users}
        firsts = {}

        async def conversation(n: int, user: str) -> None:
            async with httpx.AsyncClient(timeout=15) as http:
                for i in range(MESSAGES_EACH):
                    token = line.issue_reply_token(user)
                    tokens[user].append(token)
                    event = text_event(user, f"message {i} from {n}", reply_token=token)
                    if i == 0:
                        firsts[user] = event
                    await post(http, webs[(n + i) % 2].url, event)  # alternate the processes

        await asyncio.gather(*(conversation(n, u) for n, u in enumerate(users)))
        # LINE redelivers each user's first event, to the process that did not get it.
        async with httpx.AsyncClient(timeout=15) as http:
            for n, user in enumerate(users):
                again = dict(firsts[user], deliveryContext={"isRedelivery": True})
                await post(http, webs[(n + 1) % 2].url, again)

        total = USERS * MESSAGES_EACH
        await line.wait_for(lambda: len(line.sent) >= total, timeout=120, what=f"{total} answers")
        await asyncio.sleep(2.0)  # time for anything extra (a double answer) to show up

        for user in users:
            answered = [d.token for d in line.sent_to(user)]
            assert answered == tokens[user], f"{user}: answers out of order or missing:\n{group.logs()}"
        calls = Counter(line.attempts)
        assert [c for c, n in calls.items() if n > 1] == [], "an event was sent to LINE twice"
        assert not [a for a in line.attempts if a[0] == "push"], "no reply fell back to push"
        assert line.rejected == []

        db = Database(database_url)
        try:
            async with db.session() as s:
                rows = (await s.execute(select(InboxEvent.status, InboxEvent.event_id))).all()
        finally:
            await db.dispose()
        assert len(rows) == total, "a redelivery was stored a second time"
        assert {r.status for r in rows} == {"done"}
        for w in webs:
            assert w.alive(), w.log()


async def _users_with_a_reminder_due_now(database_url: str, n: int) -> list[str]:
    """n LINE users whose chosen reminder time is this minute (no quiet hours, no conversation)."""
    tz = ZoneInfo("Asia/Tokyo")
    now = datetime.now(timezone.utc)
    due = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    ids = [line_id() for _ in range(n)]
    db = Database(database_url)
    try:
        async with db.session() as s:
            for uid in ids:
                user = User(platform="line", platform_user_id=uid, language="en", timezone="Asia/Tokyo",
                            consent_store_text=False, active=True, created_at=now - timedelta(days=3),
                            platform_meta={})
                s.add(user)
                await s.flush()
                s.add(ReminderPrefs(user_id=user.id, enabled=True, days="mon,tue,wed,thu,fri,sat,sun",
                                    time_of_day=due.astimezone(tz).strftime("%H:%M"), quiet_start="00:00",
                                    quiet_end="00:00", next_due_at=due, frequency_factor=1, slot_seq=0,
                                    ignored_streak=0, created_at=now - timedelta(days=3), updated_at=now))
            await s.commit()
    finally:
        await db.dispose()
    return ids


async def test_two_workers_send_each_due_reminder_once(database_url, tmp_path):
    with FakeLineApi() as line, ProcessGroup(tmp_path) as group:
        env = line_env(database_url, line, REMINDER_TICK_SECONDS="0.3", LOG_LEVEL="INFO")
        workers = [group.worker(env=env, name=f"worker{i}") for i in (1, 2)]
        for w in workers:  # both ticking before anything is due, so they race for the same rows
            await line.wait_for(lambda w=w: "scheduler started" in w.log() or not w.alive(), timeout=60,
                                      what=f"{w.name} to start")
            assert w.alive(), w.log()
        ids = await _users_with_a_reminder_due_now(database_url, REMINDER_USERS)
        await line.wait_for(lambda: len(line.sent) >= REMINDER_USERS, timeout=90,
                                  what=f"{REMINDER_USERS} reminders")
        await asyncio.sleep(2.0)  # several more ticks of both workers
        for w in workers:
            assert w.alive(), w.log()

    pushes = Counter(to for kind, to in line.attempts if kind == "push")
    assert sorted(pushes) == sorted(ids), "every user got their reminder"
    assert set(pushes.values()) == {1}, f"a reminder went out twice: {pushes.most_common(3)}"
    assert all(d.texts and d.texts[0] for d in line.sent)
    db = Database(database_url)
    try:
        async with db.session() as s:
            rows = (await s.execute(select(ReminderOutbox.user_id, ReminderOutbox.status,
                                           ReminderOutbox.claimed_by))).all()
    finally:
        await db.dispose()
    assert len(rows) == REMINDER_USERS and {r.status for r in rows} == {"sent"}
    assert len({r.claimed_by for r in rows}) >= 1
