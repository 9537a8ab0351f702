"""The inbox worker's bookkeeping with the real coach: batches per user, wake-ups during a pass,
final states and retries recorded in single statements, listeners told, nothing half-saved."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.delivery import DeliveryError
from bot.inbox import USER_BATCH, IncomingEvent, InboxWorker, Parcel, enqueue, idempotency_key
from bot.store.models import Conversation, InboxEvent, User
from bot.types import Inbound, Reply, UserKey


async def user_and_convo(rt, key):
    async with rt.db.session() as s:
        user = (await s.execute(select(User).where(User.platform == key.platform,
                                                   User.platform_user_id == key.user_id))).scalar_one_or_none()
        convo = await s.get(Conversation, user.id) if user is not None else None
        return user, convo


class CoachProcessor:
    """Runs the coach for each event; fails on cue; records what it sends."""

    def __init__(self, runtime, *, explode_after_coach=(), deliver_hook=None, deliver_raises=None):
        self.runtime = runtime
        self.explode_after_coach = set(explode_after_coach)
        self.deliver_hook = deliver_hook
        self.deliver_raises = deliver_raises
        self.sent: list[tuple[str, str]] = []

    async def prepare(self, session, event):
        platform, user_id = event.user_key.split(":", 1)
        inbound = Inbound(user=UserKey(platform, user_id), kind="text", text=event.payload["text"],
                          received_at=event.received_at, event_id=event.event_id)
        outcome = await self.runtime.coach.handle(inbound, session=session)
        if event.event_id in self.explode_after_coach:
            raise RuntimeError("blew up after the coach wrote its rows")
        return Parcel(replies=outcome.replies or [Reply(text="-", message_id="x")])

    async def deliver(self, delivery, parcel):
        if self.deliver_raises is not None:
            raise self.deliver_raises
        self.sent.append((delivery.user.user_id, delivery.idempotency_key))
        if self.deliver_hook is not None:
            await self.deliver_hook(delivery)


def ev(user: str, eid: str, text: str = "hello") -> IncomingEvent:
    return IncomingEvent(platform="ops", event_id=eid, user_key=f"ops:{user}",
                         payload={"type": "message", "text": text})


async def rows(db) -> dict[str, InboxEvent]:
    async with db.session() as s:
        return {r.event_id: r for r in (await s.execute(select(InboxEvent))).scalars()}


async def test_a_prepare_that_fails_after_the_coach_wrote_leaves_no_trace_of_that_turn(runtime, clock):
    proc = CoachProcessor(runtime, explode_after_coach={"bad"})
    worker = InboxWorker(runtime.db, {"ops": proc}, clock=clock)
    await enqueue(runtime.db, [ev("newcomer", "bad"), ev("other", "fine")], now=clock())
    finished = []
    worker.on_finished.append(lambda e, status: finished.append((e.event_id, status, e.payload, e.finished_at)))
    await worker.run_once()
    got = await rows(runtime.db)
    assert (got["bad"].status, got["bad"].error, got["bad"].payload) == ("failed", "prepare: RuntimeError",
                                                                          {"type": "message"})
    assert got["fine"].status == "done" and got["fine"].replies is None
    assert await user_and_convo(runtime, UserKey("ops", "newcomer")) == (None, None), "the user row was rolled back"
    assert got["bad"].user_key.startswith("ops:forgotten-"), "no user row: the event no longer says whose"
    assert got["fine"].user_key == "ops:other"
    assert sorted(finished) == [("bad", "failed", {"type": "message"}, clock.now),
                                ("fine", "done", {"type": "message"}, clock.now)]


async def test_more_events_than_one_batch_are_answered_in_order_in_one_pass(runtime, clock):
    proc = CoachProcessor(runtime)
    worker = InboxWorker(runtime.db, {"ops": proc}, clock=clock)
    n = USER_BATCH * 2 + 3
    await enqueue(runtime.db, [ev("busy", f"e{i:03}") for i in range(n)], now=clock())
    assert await worker.run_once() == n
    assert [key for _, key in proc.sent] == [idempotency_key("ops", f"e{i:03}") for i in range(n)]
    assert {r.status for r in (await rows(runtime.db)).values()} == {"done"}


async def test_an_event_stored_during_a_pass_is_answered_without_waiting_for_the_poll(runtime, clock):
    stored_late = asyncio.Event()

    async def webhook_arrives(delivery):
        if not stored_late.is_set():
            stored_late.set()
            await enqueue(runtime.db, [ev("late", "second")], now=clock())
            worker.wake()

    proc = CoachProcessor(runtime, deliver_hook=webhook_arrives)
    worker = InboxWorker(runtime.db, {"ops": proc}, clock=clock, poll_interval=60)
    await enqueue(runtime.db, [ev("early", "first")], now=clock())
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async def both_done():
            while {r.status for r in (await rows(runtime.db)).values()} != {"done"} or len(proc.sent) < 2:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(both_done(), 10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert [u for u, _ in proc.sent] == ["early", "late"]


async def test_an_unexpected_delivery_error_is_retried_later_with_the_row_kept(runtime, clock):
    proc = CoachProcessor(runtime, deliver_raises=RuntimeError("socket closed"))
    worker = InboxWorker(runtime.db, {"ops": proc}, clock=clock, horizon=timedelta(seconds=2))
    await enqueue(runtime.db, [ev("u", "e1")], now=clock())
    assert await worker.run_once() == 0
    row = (await rows(runtime.db))["e1"]
    assert (row.status, row.attempts, row.error) == ("sending", 1, "deliver: RuntimeError")
    assert row.next_attempt_at == clock.now + timedelta(seconds=1) and row.replies["replies"]
    clock.advance(seconds=2)
    assert await worker.run_once() == 1
    row = (await rows(runtime.db))["e1"]
    assert (row.status, row.attempts, row.error) == ("dead", 2, "out of time: deliver: RuntimeError")
    assert row.replies["replies"], "a dead delivery keeps its replies for bansou inbox retry"


async def test_a_retryable_then_final_delivery_error_is_recorded(runtime, clock):
    proc = CoachProcessor(runtime, deliver_raises=DeliveryError("busy", retryable=True, status=503, retry_after=30))
    worker = InboxWorker(runtime.db, {"ops": proc}, clock=clock)
    await enqueue(runtime.db, [ev("u", "e1"), ev("u", "e2")], now=clock())
    await worker.run_once()
    got = await rows(runtime.db)
    assert (got["e1"].status, got["e1"].attempts, got["e1"].error) == ("sending", 1, "busy")
    assert got["e1"].next_attempt_at == clock.now + timedelta(seconds=30)
    assert got["e2"].status == "pending", "the user's next event waits behind the one backing off"
    proc.deliver_raises = DeliveryError("gone", retryable=False, status=400)
    clock.advance(seconds=31)
    await worker.run_once()
    got = await rows(runtime.db)
    assert (got["e1"].status, got["e1"].attempts, got["e1"].error, got["e1"].payload) == (
        "failed", 2, "gone", {"type": "message"})
    assert (got["e2"].status, got["e2"].attempts) == ("failed", 1)  # its one try was refused for good


async def test_a_busy_worker_reuses_its_pooled_connections_instead_of_opening_new_ones(runtime, clock):
    """Every user being served holds a connection (its lock's). The pool must be big enough for that;
    before it was, overflow connections were opened and closed for nearly every event, which cost
    more CPU than the coaching itself."""
    from sqlalchemy import event as sa_event

    opened = []
    sa_event.listen(runtime.db.engine.sync_engine, "connect", lambda *a: opened.append(1))
    proc = CoachProcessor(runtime)
    worker = InboxWorker(runtime.db, {"ops": proc}, clock=clock)
    users = [f"u{n}" for n in range(worker.concurrency * 2)]
    for wave in range(4):
        await enqueue(runtime.db, [ev(u, f"{u}-{wave}") for u in users], now=clock())
        await worker.run_once()
    assert len(proc.sent) == 4 * len(users)
    pool = runtime.db.engine.sync_engine.pool
    assert len(opened) <= pool.size(), (len(opened), pool.size())


async def test_a_users_turns_run_on_the_one_connection_that_holds_their_lock(runtime, clock):
    """Lock, read, prepare, deliver and record for all of a user's events: one pool check-out, not
    one for the lock and one per transaction (each of which pings and resets the connection)."""
    from sqlalchemy import event as sa_event

    checkouts = []
    sa_event.listen(runtime.db.engine.sync_engine, "checkout", lambda *a: checkouts.append(1))
    proc = CoachProcessor(runtime)
    worker = InboxWorker(runtime.db, {"ops": proc}, clock=clock)
    await enqueue(runtime.db, [ev("solo", f"solo-{n}") for n in range(5)], now=clock())
    checkouts.clear()
    assert await worker.process_user("ops:solo") == 5
    assert len(proc.sent) == 5
    assert len(checkouts) == 1
