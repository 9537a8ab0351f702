"""The durable inbox on its own: order per user, exactly once, failures recorded, crashes survived."""
from __future__ import annotations

from sqlalchemy import select

from bot.delivery import DeliveryError
from bot.inbox import IncomingEvent, InboxWorker, Parcel, enqueue
from bot.store.models import InboxEvent
from bot.types import Reply


class RecordingProcessor:
    """A platform stand-in: prepares a reply naming the event, records deliveries, fails on cue."""

    def __init__(self, *, explode_on=(), fail_times=0, final_failure=False):
        self.explode_on = set(explode_on)
        self.fail_times = fail_times
        self.final_failure = final_failure
        self.prepared: list[str] = []
        self.delivered: list[tuple[str, str]] = []

    async def prepare(self, session, event):
        if event.event_id in self.explode_on:
            raise RuntimeError("engine blew up")
        self.prepared.append(event.event_id)
        return Parcel(replies=[Reply(text=f"re {event.event_id}", message_id="x")])

    async def deliver(self, delivery, parcel):
        if self.final_failure:
            raise DeliveryError("quota", retryable=False, status=429)
        if self.fail_times:
            self.fail_times -= 1
            raise DeliveryError("server error", retryable=True, status=500)
        self.delivered.append((delivery.user.user_id, parcel.replies[0].text))


def events(*pairs):
    return [IncomingEvent(platform="test", event_id=eid, user_key=f"test:{user}", payload={"type": "message"})
            for user, eid in pairs]


async def statuses(db) -> dict[str, str]:
    async with db.session() as s:
        return {r.event_id: r.status for r in (await s.execute(select(InboxEvent))).scalars()}


async def test_each_users_events_are_answered_once_and_in_order(runtime, clock):
    proc = RecordingProcessor()
    worker = InboxWorker(runtime.db, {"test": proc}, clock=clock)
    assert await enqueue(runtime.db, events(("a", "e1"), ("b", "e2"), ("a", "e3")), now=clock()) == 3
    assert await enqueue(runtime.db, events(("a", "e1"), ("a", "e4")), now=clock()) == 1  # e1 is a repeat
    await worker.run_once()
    assert [t for u, t in proc.delivered if u == "a"] == ["re e1", "re e3", "re e4"]
    assert [t for u, t in proc.delivered if u == "b"] == ["re e2"]
    await worker.run_once()
    assert len(proc.delivered) == 4
    assert set((await statuses(runtime.db)).values()) == {"done"}


async def test_a_failing_prepare_is_recorded_and_does_not_stop_the_others(runtime, clock):
    proc = RecordingProcessor(explode_on={"bad"})
    worker = InboxWorker(runtime.db, {"test": proc}, clock=clock)
    await enqueue(runtime.db, events(("a", "bad"), ("a", "good"), ("b", "other")), now=clock())
    await worker.run_once()
    got = await statuses(runtime.db)
    assert got == {"bad": "failed", "good": "done", "other": "done"}


async def test_retryable_failures_back_off_and_then_deliver_once(runtime, clock):
    proc = RecordingProcessor(fail_times=2)
    worker = InboxWorker(runtime.db, {"test": proc}, clock=clock)
    await enqueue(runtime.db, events(("a", "e1"), ("a", "e2")), now=clock())
    await worker.run_once()
    assert proc.delivered == [] and (await statuses(runtime.db))["e1"] == "sending"
    await worker.run_once()  # still backing off: nothing happens, e2 waits behind e1
    assert proc.delivered == []
    for _ in range(3):
        clock.advance(minutes=1)
        await worker.run_once()
    assert proc.delivered == [("a", "re e1"), ("a", "re e2")]
    assert proc.prepared == ["e1", "e2"]  # the engine ran once per event, whatever the retries


async def test_a_final_failure_is_recorded_not_retried(runtime, clock):
    proc = RecordingProcessor(final_failure=True)
    worker = InboxWorker(runtime.db, {"test": proc}, clock=clock)
    await enqueue(runtime.db, events(("a", "e1")), now=clock())
    await worker.run_once()
    clock.advance(hours=1)
    await worker.run_once()
    async with runtime.db.session() as s:
        row = (await s.execute(select(InboxEvent))).scalar_one()
    assert (row.status, row.error, row.payload) == ("failed", "quota", {"type": "message"})


async def test_work_left_by_a_crashed_process_is_picked_up(runtime, clock):
    await enqueue(runtime.db, events(("a", "e1")), now=clock())
    # a process prepared the reply, then died before delivering it
    first = RecordingProcessor(final_failure=False)
    worker = InboxWorker(runtime.db, {"test": first}, clock=clock)
    async with runtime.db.session() as s:
        ev = (await s.execute(select(InboxEvent))).scalar_one()
        assert await worker._prepare(s, first, ev)
    assert first.delivered == []
    again = RecordingProcessor()
    await InboxWorker(runtime.db, {"test": again}, clock=clock).run_once()
    assert again.prepared == [] and again.delivered == [("a", "re e1")]


async def test_a_large_batch_with_repeats_is_stored_once_and_counted_exactly(runtime, clock):
    """Beyond one multi-row INSERT page (SQLAlchemy's insertmanyvalues sends 1,000 rows a page), every
    event is stored once and only the new ones are counted, wherever the repeats fall."""
    first = [(f"u{i % 50}", f"e{i}") for i in range(0, 2500, 2)]
    assert await enqueue(runtime.db, events(*first), now=clock()) == 1250
    mixed = [(f"u{i % 50}", f"e{i}") for i in range(2500)]
    assert await enqueue(runtime.db, events(*mixed), now=clock()) == 1250
    assert len(await statuses(runtime.db)) == 2500


class EnrichingProcessor(RecordingProcessor):
    """A processor that looks things up first, and cannot even inspect one malformed event."""

    def __init__(self):
        super().__init__()
        self.enriched: list[str] = []

    def wants_enrichment(self, event):
        if event.event_id == "odd":
            raise TypeError("unhashable type: 'dict'")  # as a fuzzed Slack "user" once did
        return event.event_id == "new"

    async def enrich(self, event):
        self.enriched.append(event.event_id)
        return {"lang_hint": "en"}


async def test_an_event_that_cannot_be_inspected_for_enrichment_stops_nobody(runtime, clock):
    """A payload the processor chokes on while deciding whether to look something up is left to
    prepare; it used to end the whole pass, leaving every user's events pending."""
    proc = EnrichingProcessor()
    worker = InboxWorker(runtime.db, {"test": proc}, clock=clock)
    await enqueue(runtime.db, events(("a", "odd"), ("a", "after"), ("b", "new")), now=clock())
    await worker.run_once()
    assert await statuses(runtime.db) == {"odd": "done", "after": "done", "new": "done"}
    assert proc.enriched == ["new"]
