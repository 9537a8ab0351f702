"""The reminder worker is killed with SIGKILL in the middle of sending 1,000 due reminders, then
started again: every reminder reaches its person exactly once.

A real ``bansou worker`` pushes to a fake LINE API (in its own thread) that is a little slow and,
like LINE, drops a push whose ``X-Line-Retry-Key`` it already accepted (409). The kill lands when
52–60 % of the pushes have arrived: the first batch of rows is usually recorded ``sent``, the next
is still ``sending`` with part of it pushed, and some pushes are in flight (LINE still acts on them after the worker is gone). A
delivery a dead worker left in ``sending`` in the delivery outbox is retried when its lease (5
minutes) runs out; rather than wait, the test moves those leases into the past, which is what the
table holds 5 minutes later. The
restarted worker re-sends them with the same retry keys, and LINE drops the ones it already had.
"""
from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update

from bot.outbox import DEFAULT_LEASE
from bot.reminders.models import NudgeHistory, ReminderOutbox, ReminderPrefs
from bot.store.db import Database
from bot.store.outbox_models import OutboxDelivery
from bot.store.models import User
from tests.fake_line_api import line_id
from tests.procs import ProcessGroup, child_env
from tests.reliability.fakes import FaultyLineApi

TOKEN = "worker-crash-token"
USERS = 1000
LEASE = DEFAULT_LEASE
# Kill once just over half the pushes have arrived: the dispatcher claims and records in batches of
# 500, so the first batch is usually recorded ``sent`` by then and the second is half sent.
KILL_AT, KILL_BY = 0.52, 0.60


async def seed_due_reminders(db: Database, n: int) -> list[str]:
    """``n`` LINE users whose daily reminder fell due ten minutes ago (well within the grace window),
    with no quiet hours and no conversation going on, so every one of them is sent now."""
    now = datetime.now(timezone.utc)
    due = (now - timedelta(minutes=10)).replace(second=0, microsecond=0)
    local = due.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M")
    ids = [line_id() for _ in range(n)]
    async with db.session() as s:
        user_ids = (await s.execute(insert(User).returning(User.id), [
            {"platform": "line", "platform_user_id": uid, "language": "ja" if i % 2 else "en",
             "timezone": "Asia/Tokyo", "consent_store_text": False, "active": True,
             "created_at": now - timedelta(days=7), "platform_meta": {}} for i, uid in enumerate(ids)])).scalars().all()
        await s.execute(insert(ReminderPrefs), [
            {"user_id": user_id, "enabled": True, "days": "mon,tue,wed,thu,fri,sat,sun", "time_of_day": local,
             "quiet_start": "00:00", "quiet_end": "00:00", "next_due_at": due, "frequency_factor": 1, "slot_seq": 0,
             "ignored_streak": 0, "created_at": now - timedelta(days=7), "updated_at": now} for user_id in user_ids])
        await s.commit()
    return ids


async def outbox_statuses(db: Database) -> Counter[str]:
    async with db.session() as s:
        return Counter(dict((await s.execute(select(ReminderOutbox.status, func.count())
                                             .group_by(ReminderOutbox.status))).all()))


async def test_worker_sigkilled_mid_dispatch_sends_every_reminder_exactly_once(database_url, tmp_path):
    fake = FaultyLineApi(token=TOKEN, latency=(0.02, 0.1))
    stop_fake = fake.start_thread()
    db = Database(database_url)
    try:
        users = await seed_due_reminders(db, USERS)
        env = child_env(DATABASE_URL=database_url, LINE_CHANNEL_SECRET="worker-crash-secret",
                        LINE_CHANNEL_ACCESS_TOKEN=TOKEN, LINE_API_BASE_URL=fake.url,
                        REMINDER_TICK_SECONDS="0.5", LOG_LEVEL="WARNING")

        def accepted() -> list:
            return [s for s in list(fake.sent) if s.via == "push"]

        with ProcessGroup(tmp_path) as group:
            worker = group.worker(env=env, name="worker")
            deadline = time.monotonic() + 120
            while len(accepted()) < KILL_AT * USERS:
                assert worker.alive(), worker.log()
                assert time.monotonic() < deadline, f"the worker sent {len(accepted())} in 120 s:\n{worker.log()}"
                await asyncio.sleep(0.005)
            worker.kill()
            arrived_at_kill = len(accepted())
            at_kill = await outbox_statuses(db)
            async with db.session() as s:
                sent_at_kill = set((await s.execute(select(ReminderOutbox.id)
                                                    .where(ReminderOutbox.status == "sent"))).scalars())

            # What LINE received in flight still takes effect; then 5 minutes pass (the lease).
            await asyncio.sleep(1.0)
            async with db.session() as s:
                # the leases taken just now, as they stand LEASE + 1 minute later: run out
                ran_out = datetime.now(timezone.utc) - timedelta(minutes=1)
                aged = (await s.execute(update(OutboxDelivery).where(OutboxDelivery.status == "sending")
                                        .values(lease_until=ran_out))).rowcount
                await s.commit()

            worker.start()
            deadline = time.monotonic() + 120
            while (await outbox_statuses(db)).get("sent", 0) < USERS:
                assert worker.alive(), worker.log()
                assert time.monotonic() < deadline, f"{await outbox_statuses(db)}:\n{worker.log()}"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.5)  # three more ticks: anything sent twice would show now
            assert worker.alive(), worker.log()
            assert worker.stop() in (0, -signal.SIGTERM), worker.log()
            log = worker.log()

        async with db.session() as s:
            rows = (await s.execute(select(ReminderOutbox.id, ReminderOutbox.status, ReminderOutbox.user_id))).all()
            history = (await s.execute(select(func.count()).select_from(NudgeHistory))).scalar_one()
    finally:
        await db.dispose()
        stop_fake()

    # The kill landed mid-pass, with work both recorded and not.
    assert KILL_AT * USERS <= arrived_at_kill <= KILL_BY * USERS, arrived_at_kill
    assert at_kill.get("sent", 0) < USERS and aged > 0, (at_kill, aged)

    outbox_ids = {r.id for r in rows}
    assert len(rows) == USERS and Counter(r.status for r in rows) == {"sent": USERS}
    pushes = [r for r in fake.requests if r.path.endswith("/push")]
    keys_seen = Counter(r.headers.get("x-line-retry-key") for r in pushes)
    assert set(keys_seen) == outbox_ids, "exactly 1,000 distinct retry keys, one per outbox row, none missing"
    assert all(keys_seen[k] == 1 for k in sent_at_kill), "a row recorded sent before the kill is not sent again"
    delivered = Counter(s.retry_key for s in accepted())
    assert len(accepted()) == USERS and set(delivered) == outbox_ids and set(delivered.values()) == {1}
    assert sorted(s.to for s in accepted()) == sorted(users), "every person got their reminder, once"
    assert all(s.texts and s.texts[0] for s in accepted())
    # The restart did re-send what LINE had already accepted, and LINE dropped those (409).
    statuses = Counter(r.status for r in pushes)
    assert set(statuses) <= {200, 409} and statuses[409] > 0, statuses
    assert statuses[200] == USERS and len(pushes) == USERS + statuses[409]
    assert history == USERS, "each sent nudge recorded once in the person's history"
    assert "Traceback" not in log, log
    print(f"\nworker killed after {arrived_at_kill}/{USERS} pushes arrived (outbox then {dict(at_kill)}); "
          f"restart re-sent {statuses[409]} that LINE already had (409), all {USERS} delivered once")
