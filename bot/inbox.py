"""The durable inbox: webhook events are stored before the platform gets its 200, then processed.

Lifecycle of a row in ``inbox_events``::

    pending ──prepare (engine + state + queued replies, one transaction)──▶ sending ──deliver──▶ done
       │                                                                      │ retryable error: backoff, stay
       └─ nothing to send ──▶ ignored                                         ├─ final error (the platform said no) ──▶ failed
                                                                              └─ still failing at retry_until ──▶ dead
                                                                                 (replies kept; ``bansou inbox retry``)

* ``(platform, event_id)`` is unique: a redelivered event is not stored twice, so never answered twice.
* A user's events are handled one at a time and in arrival order, under the user's lock (which
  holds across processes on PostgreSQL), so two web processes never interleave one user's turns.
* A crash before ``prepare`` commits leaves the row ``pending``; a crash after it leaves it
  ``sending`` with the replies kept in the row. Either is picked up on the next pass, and every
  send carries an idempotency key derived from the event id, so nothing is lost or doubled.
* Retries are bounded by time, not by a count a storm of 429s could use up: each waits the longer
  of the platform's Retry-After and a backoff that grows with every try, until ``retry_until``
  (received + the horizon, 24 hours by default). Then the row is ``dead`` with the reason, its
  replies kept, until an operator replays it (``bansou inbox retry``).
* Once done, the event's payload (which may hold message text) is cleared.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import Delivery, DeliveryError, outgoing_from_json, outgoing_to_json
from bot.retry import BACKOFF_CAP_SECONDS, DEFAULT_HORIZON, backoff_delay, next_attempt_at  # noqa: F401 - re-exported
from bot.store.db import Database
from bot.store.models import InboxEvent
from bot.types import Outgoing, UserKey

log = logging.getLogger("bansou.inbox")
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f2c1f7e-6a53-4e0e-9d4b-6b616e736f75")
DONE_STATES = ("done", "failed", "ignored")
FINISH_PATIENCE_SECONDS = 120.0  # how long a delivered event waits for the database to record it


def idempotency_key(platform: str, event_id: str) -> str:
    """A UUID that is the same every time this event's replies are sent (LINE wants a UUID)."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{platform}:{event_id}"))


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One platform event to store: its id (for de-duplication), whose it is, and its raw payload."""

    platform: str
    event_id: str
    user_key: str
    payload: dict[str, Any]


@dataclass(slots=True)
class Parcel:
    """What goes out for one event (replies, and typed items such as a home view), with the platform
    context needed to send it."""

    replies: list[Outgoing]
    context: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"replies": [outgoing_to_json(r) for r in self.replies], "context": self.context}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Parcel":
        return cls(replies=[outgoing_from_json(r) for r in data.get("replies", [])], context=data.get("context", {}))


@dataclass(slots=True)
class StoredEvent:
    """A stored event as the worker hands it to a platform's processor: plain data, not a database
    row. ``enrichment`` is what the processor's ``enrich`` looked up on the network for it (a
    profile), before any lock was taken or transaction begun; None when it was not asked for."""

    id: int
    platform: str
    event_id: str
    user_key: str
    payload: dict[str, Any] | None
    status: str
    attempts: int
    replies: Any
    next_attempt_at: datetime | None
    received_at: datetime
    error: str | None
    retry_until: datetime | None
    finished_at: datetime | None = None
    enrichment: dict[str, Any] | None = None  # None: not enriched (``enrich`` was not called for it)


class EnrichmentNeeded(Exception):
    """Raised by ``prepare`` when it finds it needs what ``enrich`` looks up after all (e.g. the
    person it took for known was deleted meanwhile): the transaction is rolled back, the lock
    released, ``enrich`` called, and ``prepare`` run again, once."""


class InboxProcessor(Protocol):
    """A platform's part in processing: turn a stored event into replies, and send them.

    A processor that needs the network to understand an event (a profile lookup) also has
    ``wants_enrichment(event) -> bool`` (a pure look at the payload) and ``async enrich(event) ->
    dict``: the worker calls ``enrich`` with no lock held and no transaction open, and hands the
    result to ``prepare`` as ``event.enrichment``. ``prepare`` itself never calls the network."""

    async def prepare(self, session: AsyncSession, event: StoredEvent) -> Parcel | None:
        """Run the event through the coach inside ``session`` (the caller holds the user's lock)."""

    async def deliver(self, delivery: Delivery, parcel: Parcel) -> None:
        """Send the parcel; raise DeliveryError on failure."""


# Observers of enqueue (metrics): called as ``listener(db, platform, new)`` once per event after commit.
enqueue_listeners: list[Callable[[Database, str, bool], None]] = []


async def enqueue(db: Database, events: Sequence[IncomingEvent], *, now: datetime) -> int:
    """Store events in one transaction, skipping ones already stored; returns how many were new."""
    if not events:
        return 0
    stmt, params = _enqueue_statement(db.engine.dialect.name), _enqueue_parameters(db, events, now)
    async with db.ingest() as conn:
        # One statement (its own transaction). RETURNING names the rows that were new, so a
        # redelivered event (already stored) is told apart without a query per event.
        result = await conn.execute(stmt, params)
        new_ids = {(r.platform, r.event_id) for r in result}
    fresh = [(e.platform, e.event_id) in new_ids for e in events]
    for listener in enqueue_listeners:
        for event, is_new in zip(events, fresh):
            listener(db, event.platform, is_new)
    return sum(fresh)


@cache
def _enqueue_statement(dialect: str):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING for this backend, built once.

    Plain SQL, one statement for any number of rows (PostgreSQL reads them from arrays with
    ``unnest``, SQLite from one JSON array with ``json_each``): SQLAlchemy never caches the compiled
    form of its dialect INSERT with ``on_conflict_do_nothing``, which cost ~0.5 ms of CPU per
    webhook commit."""
    from sqlalchemy import String, bindparam, text

    from bot.store.models import UTCDateTime

    received_at = bindparam("received_at", type_=UTCDateTime())
    if dialect == "sqlite":
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
        return text(
            "INSERT INTO inbox_events (platform, event_id, user_key, payload, status, attempts, received_at) "
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
            "json_extract(value, '$[3]'), 'pending', 0, :received_at FROM json_each(:rows) WHERE true "
            "ON CONFLICT (platform, event_id) DO NOTHING RETURNING platform, event_id"
        ).bindparams(received_at, bindparam("rows", type_=String()))
    from sqlalchemy.dialects.postgresql import ARRAY

    return text(
        "INSERT INTO inbox_events (platform, event_id, user_key, payload, status, attempts, received_at) "
        "SELECT r.platform, r.event_id, r.user_key, CAST(r.payload AS json), 'pending', 0, :received_at "
        "FROM unnest(:platforms, :event_ids, :user_keys, :payloads) "
        "AS r(platform, event_id, user_key, payload) "
        "ON CONFLICT (platform, event_id) DO NOTHING RETURNING platform, event_id"
    ).bindparams(received_at,
                 *(bindparam(n, type_=ARRAY(String)) for n in ("platforms", "event_ids", "user_keys", "payloads")))


def _enqueue_parameters(db: Database, events: Sequence[IncomingEvent], now: datetime) -> dict[str, Any]:
    """The statement's parameters; payloads are JSON text, as SQLAlchemy's JSON type would store them."""
    payloads = [json.dumps(e.payload) for e in events]
    if db.is_sqlite:
        rows = [[e.platform, e.event_id, e.user_key, p] for e, p in zip(events, payloads)]
        return {"received_at": now, "rows": json.dumps(rows)}
    return {"received_at": now, "platforms": [e.platform for e in events], "event_ids": [e.event_id for e in events],
            "user_keys": [e.user_key for e in events], "payloads": payloads}


CONCURRENCY = 8
SQLITE_CONCURRENCY = 2


class InboxWorker:
    """Processes stored events: per user, in order, under the user's lock."""

    def __init__(self, db: Database, processors: dict[str, InboxProcessor], *,
                 clock: Callable[[], datetime], horizon: timedelta = DEFAULT_HORIZON,
                 concurrency: int | None = None, poll_interval: float = 1.0, batch: int = 200):
        self.db = db
        self.processors = processors
        self.clock = clock
        self.horizon = horizon
        # SQLite has one writer: more users at once only queue on its lock (busy-handler sleeps).
        self.concurrency = concurrency or (SQLITE_CONCURRENCY if db.is_sqlite else CONCURRENCY)
        self.poll_interval = poll_interval
        self.batch = batch
        self._wake = asyncio.Event()
        self._busy_users: set[str] = set()
        self.on_finished: list[Callable[[StoredEvent, str], None]] = []

    def wake(self) -> None:
        """Ask the loop to look for work now (called right after a webhook stores events)."""
        self._wake.set()

    async def due_users(self) -> list[str]:
        async with self.db.session() as session:
            rows = await session.execute(_statements().due_users, {
                "platforms": list(self.processors), "now": self.clock(), "batch": self.batch})
            return [r.user_key for r in rows]

    async def run_once(self) -> int:
        """Process everything due now; returns how many events reached a final state."""
        users = [u for u in await self.due_users() if u not in self._busy_users]
        if not users:
            return 0
        sem = asyncio.Semaphore(self.concurrency)

        async def one(user_key: str) -> int:
            async with sem:
                return await self.process_user(user_key)

        return sum(await asyncio.gather(*(one(u) for u in users)))

    async def process_user(self, user_key: str) -> int:
        """Handle this user's due events oldest first, stopping at one that must wait (backoff).

        The events are read in batches under the lock (nobody else changes them meanwhile); each is
        prepared in its own transaction, the first in the one that read the batch."""
        finished = 0
        enriched: dict[int, dict[str, Any]] = {}
        self._busy_users.add(user_key)
        try:
            while True:
                wanting = None
                async with self.db.user_lock(user_key) as conn:
                    while wanting is None:
                        async with self.db.session(conn) as session:
                            events = await self._due_events(session, user_key)
                            if not events:
                                return finished
                            step = await self._process(session, events[0], enriched)
                        if isinstance(step, StoredEvent):
                            wanting = step
                            break
                        if step is None:
                            return finished
                        finished += step
                        for ev in events[1:]:
                            async with self.db.session(conn) as session:
                                step = await self._process(session, ev, enriched)
                            if isinstance(step, StoredEvent):
                                wanting = step
                                break
                            if step is None:
                                return finished
                            finished += step
                        if wanting is None and len(events) < USER_BATCH:
                            return finished  # all read; a newer event comes with a wake-up
                # The lock is released and no transaction is open: look up what the event needs.
                enriched[wanting.id] = await self._enrich(wanting)
        finally:
            self._busy_users.discard(user_key)

    @staticmethod
    def _wants_enrichment(processor: InboxProcessor, ev: StoredEvent) -> bool:
        """Whether ``ev`` needs a lookup first; a payload the processor can't even inspect (a fuzzed
        type) is left to ``prepare``, which refuses it, instead of stopping every user's pass."""
        try:
            return bool(processor.wants_enrichment(ev))
        except Exception:  # noqa: BLE001
            log.exception("wants_enrichment failed", extra={"platform": ev.platform, "event_id": ev.event_id})
            return False

    async def _enrich(self, ev: StoredEvent) -> dict[str, Any]:
        try:
            return dict(await self.processors[ev.platform].enrich(ev) or {})
        except Exception:  # noqa: BLE001 - enrichment is a nicety: prepare goes on without it
            log.exception("enrich failed", extra={"platform": ev.platform, "event_id": ev.event_id})
            return {}

    async def _due_events(self, session: AsyncSession, user_key: str) -> list[StoredEvent]:
        rows = await session.execute(_statements().user_events, {"user_key": user_key})
        return [StoredEvent(**row._mapping) for row in rows]

    async def _process(self, session: AsyncSession, ev: StoredEvent,
                       enriched: dict[int, dict[str, Any]] | None = None) -> int | None | StoredEvent:
        """Take one event as far as it goes now: 1 when it reached a final state, None to stop this
        user, or the event itself when it must be enriched (outside the lock) before ``prepare``."""
        if ev.status == "sending" and ev.next_attempt_at is not None and ev.next_attempt_at > self.clock():
            return None
        processor = self.processors.get(ev.platform)
        if processor is None:
            return None
        if ev.status == "pending":
            enrichable = enriched is not None and hasattr(processor, "enrich")
            if enrichable and ev.id in enriched:
                ev.enrichment = enriched.pop(ev.id)
            elif enrichable and self._wants_enrichment(processor, ev):
                await session.rollback()  # end the read transaction before the network call
                return ev
            try:
                if not await self._prepare(session, processor, ev, may_ask=enrichable and ev.enrichment is None):
                    return 1
            except EnrichmentNeeded:
                return ev
        done = await self._deliver(session, processor, ev)
        return None if done is None else 1

    async def _prepare(self, session: AsyncSession, processor: InboxProcessor, ev: StoredEvent, *,
                       may_ask: bool = False) -> bool:
        """Run the engine; True when there is something to deliver. Commits state and parcel together.
        ``EnrichmentNeeded`` goes up (after a rollback) when ``may_ask``: the event was not enriched yet."""
        try:
            parcel = await processor.prepare(session, ev)
        except EnrichmentNeeded:
            await session.rollback()
            if may_ask:
                raise
            log.error("prepare asked for enrichment twice", extra={"platform": ev.platform, "event_id": ev.event_id})
            await self._finish(ev, "failed", error="prepare: enrichment")
            return False
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the others
            await session.rollback()
            log.exception("prepare failed", extra={"platform": ev.platform, "event_id": ev.event_id})
            await self._finish(ev, "failed", error=f"prepare: {type(exc).__name__}")
            return False
        if parcel is None or not parcel.replies:
            await self._finish(ev, "ignored", session=session, keep_error=True)
            return False
        replies = parcel.to_json()
        await session.execute(_statements().sending, {"row_id": ev.id, "replies": replies})
        await session.commit()
        ev.status, ev.replies = "sending", replies
        return True

    async def _deliver(self, session: AsyncSession, processor: InboxProcessor, ev: StoredEvent) -> bool | None:
        parcel = Parcel.from_json(ev.replies or {})
        platform, user_id = ev.user_key.split(":", 1)
        delivery = Delivery(user=UserKey(platform, user_id), idempotency_key=idempotency_key(ev.platform, ev.event_id),
                            context=dict(parcel.context, attempt=ev.attempts))
        try:
            await processor.deliver(delivery, parcel)
        except DeliveryError as exc:
            attempts = ev.attempts + 1
            if exc.retryable:
                return await self._retry_or_die(session, ev, attempts=attempts, error=str(exc)[:500],
                                                retry_after=exc.retry_after, status=exc.status)
            await self._finish(ev, "failed", error=str(exc)[:500], attempts=attempts, session=session)
            log.error("delivery failed for good", extra={"platform": ev.platform, "event_id": ev.event_id,
                                                         "status": exc.status})
            return False
        except Exception as exc:  # noqa: BLE001 - unexpected: retry like a transient failure
            log.exception("delivery raised", extra={"platform": ev.platform, "event_id": ev.event_id})
            return await self._retry_or_die(session, ev, attempts=ev.attempts + 1,
                                            error=f"deliver: {type(exc).__name__}", retry_after=None, status=None)
        await self._finish_delivered(ev, session=session)
        return True

    def deadline(self, ev: StoredEvent) -> datetime:
        """When this event's delivery stops being retried."""
        return ev.retry_until or (ev.received_at + self.horizon)

    async def _retry_or_die(self, session: AsyncSession, ev: StoredEvent, *, attempts: int, error: str,
                            retry_after: float | None, status: int | None) -> bool | None:
        """Try again after the backoff (the last try at the deadline), or, past the deadline, ``dead``."""
        now = self.clock()
        next_at = next_attempt_at(attempts=attempts, now=now, deadline=self.deadline(ev), retry_after=retry_after)
        if next_at is None:
            await self._die(session, ev, attempts=attempts, error=f"out of time: {error}"[:500])
            log.error("delivery ran out of time", extra={"platform": ev.platform, "event_id": ev.event_id,
                                                         "attempt": attempts, "status": status})
            return False
        await self._retry_later(session, ev, attempts=attempts, next_at=next_at, error=error)
        log.warning("delivery will be retried", extra={"platform": ev.platform, "event_id": ev.event_id,
                                                       "attempt": attempts, "status": status})
        return None

    async def _die(self, session: AsyncSession, ev: StoredEvent, *, attempts: int, error: str) -> None:
        """``dead``: out of time. The replies stay for ``bansou inbox retry``; the payload is redacted."""
        now = self.clock()
        await session.execute(_statements().dead, {"row_id": ev.id, "attempts": attempts, "error": error,
                                                   "finished_at": now, "payload": _redacted(ev.payload)})
        await session.commit()
        ev.status, ev.attempts, ev.error, ev.finished_at = "dead", attempts, error, now
        ev.payload = _redacted(ev.payload)
        self._notify(ev, "dead")

    async def _retry_later(self, session: AsyncSession, ev: StoredEvent, *, attempts: int, next_at: datetime,
                           error: str | None) -> None:
        await session.execute(_statements().retry, {"row_id": ev.id, "attempts": attempts, "next_attempt_at": next_at,
                                                     "error": error})
        await session.commit()
        ev.attempts, ev.next_attempt_at, ev.error = attempts, next_at, error

    async def _finish_delivered(self, ev: StoredEvent, *, session: AsyncSession | None = None) -> None:
        """Record ``done`` for an event the platform has accepted. The send cannot be taken back and a
        reply cannot be deduplicated, so while the database is briefly away this keeps trying rather
        than leave the event to be delivered (and seen) a second time."""
        delay, waited = 0.25, 0.0
        while True:
            try:
                await self._finish(ev, "done", session=session)
                return
            except Exception:  # noqa: BLE001 - e.g. the database restarting; give up after a while
                if waited >= FINISH_PATIENCE_SECONDS:
                    raise
                log.warning("delivered, but could not record it yet; retrying")
                session = None  # the next tries each take a fresh session (and connection)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)

    async def _finish(self, ev: StoredEvent, status: str, *, error: str | None = None, attempts: int | None = None,
                      session: AsyncSession | None = None, keep_error: bool = False) -> None:
        """Record a final state in one statement (redacting the payload, forgetting whose it was if
        they have no user row; ``attempts`` when a delivery try ended it) and commit; in ``session``
        when given, else in a new one."""
        if session is None:
            async with self.db.session() as own:
                return await self._finish(ev, status, error=error, attempts=attempts, session=own,
                                          keep_error=keep_error)
        platform, _, user_id = ev.user_key.partition(":")
        now = self.clock()
        stmts = _statements()
        params = {"row_id": ev.id, "status": status, "finished_at": now, "payload": _redacted(ev.payload),
                  "attempts": attempts,
                  "user_platform": platform, "platform_user_id": user_id,
                  "forgotten": f"{platform}:forgotten-{uuid.uuid4().hex}"}
        if keep_error:  # "ignored" leaves error and replies as they were
            stmt = stmts.ignore
        else:
            stmt = stmts.finish
            params["error"] = error
        user_key = (await session.execute(stmt, params)).scalar_one()
        await session.commit()
        ev.status, ev.finished_at, ev.payload, ev.user_key = status, now, params["payload"], user_key
        if not keep_error:
            ev.error, ev.replies = error, None
        if attempts is not None:
            ev.attempts = attempts
        self._notify(ev, status)

    def _notify(self, ev: StoredEvent, status: str) -> None:
        for cb in self.on_finished:
            cb(ev, status)

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop`` is set: process what is due, then sleep until woken or the poll interval."""
        while not stop.is_set():
            # Cleared before the pass, so a wake-up for an event stored during the pass is not lost:
            # a user's events are read in batches, and a newer one waits for the next pass.
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - keep the loop alive (e.g. database briefly down)
                log.exception("inbox pass failed")
                await asyncio.sleep(self.poll_interval)
            if self._wake.is_set() or stop.is_set():
                continue
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()

    async def counts(self) -> dict[str, int]:
        async with self.db.session() as session:
            rows = await session.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status))
            return {status: n for status, n in rows}


USER_BATCH = 20  # events of one user read at once


@dataclass(frozen=True)
class _Statements:
    """The worker's statements, built once (Core: no unit of work, cache keys memoised)."""

    due_users: Any
    user_events: Any
    sending: Any
    retry: Any
    finish: Any
    ignore: Any
    dead: Any


@cache
def _statements() -> _Statements:
    from sqlalchemy import Integer, bindparam, case, exists

    from bot.store.models import User

    t = InboxEvent.__table__
    by_id = t.c.id == bindparam("row_id")
    columns = [t.c[name] for name in ("id", "platform", "event_id", "user_key", "payload", "status", "attempts",
                                      "replies", "next_attempt_at", "received_at", "error", "retry_until")]
    due = or_(t.c.status == "pending",
              (t.c.status == "sending") & (t.c.next_attempt_at.is_(None) | (t.c.next_attempt_at <= bindparam("now"))))
    # A finished event of someone with no user row (they just deleted their data, or never became a
    # user) keeps its id for redelivery detection but no longer says whose it was.
    user_key = case((exists().where(User.__table__.c.platform == bindparam("user_platform"),
                                    User.__table__.c.platform_user_id == bindparam("platform_user_id")),
                     t.c.user_key), else_=bindparam("forgotten"))
    final = {"status": bindparam("status"), "finished_at": bindparam("finished_at"),
             "payload": bindparam("payload"), "user_key": user_key,
             "attempts": func.coalesce(bindparam("attempts", type_=Integer()), t.c.attempts)}
    finish = t.update().where(by_id).values(**final, error=bindparam("error"), replies=None)
    return _Statements(
        due_users=select(t.c.user_key, func.min(t.c.id).label("first"))
        .where(t.c.platform.in_(bindparam("platforms", expanding=True)), due)
        .group_by(t.c.user_key).order_by("first").limit(bindparam("batch")),
        user_events=select(*columns).where(t.c.user_key == bindparam("user_key"),
                                           t.c.status.in_(("pending", "sending"))).order_by(t.c.id).limit(USER_BATCH),
        sending=t.update().where(by_id).values(status="sending", replies=bindparam("replies")),
        retry=t.update().where(by_id).values(attempts=bindparam("attempts"),
                                             next_attempt_at=bindparam("next_attempt_at"), error=bindparam("error")),
        finish=finish.returning(t.c.user_key),
        ignore=t.update().where(by_id).values(**final).returning(t.c.user_key),
        dead=t.update().where(by_id, t.c.status == "sending").values(
            status="dead", attempts=bindparam("attempts"), error=bindparam("error"),
            finished_at=bindparam("finished_at"), payload=bindparam("payload"), next_attempt_at=None),
    )


def _redacted(payload: dict[str, Any] | None) -> dict[str, Any]:
    """Keep only what says what kind of event it was; drop text and ids of content."""
    payload = payload or {}
    return {k: payload[k] for k in ("type",) if k in payload}


async def purge_finished(db: Database, *, before: datetime) -> int:
    """Delete finished events older than ``before`` (their ids only guard against redelivery)."""
    from sqlalchemy import delete

    async with db.session() as session:
        result = await session.execute(
            delete(InboxEvent).where(InboxEvent.status.in_(DONE_STATES), InboxEvent.finished_at < before))
        await session.commit()
        return result.rowcount or 0


async def replay_dead(db: Database, *, now: datetime, since: datetime | None = None,
                      horizon: timedelta = DEFAULT_HORIZON) -> int:
    """Give ``dead`` deliveries (those that died at or after ``since``) another ``horizon`` of
    retries: back to ``sending`` with their kept replies and the same idempotency key, so whatever
    did reach the platform is not sent twice. Returns how many."""
    from sqlalchemy import update

    t = InboxEvent.__table__
    cond = [t.c.status == "dead"]
    if since is not None:
        cond.append(t.c.finished_at >= since)
    async with db.session() as session:
        result = await session.execute(update(InboxEvent).where(*cond).values(
            status="sending", next_attempt_at=None, finished_at=None, retry_until=now + horizon))
        await session.commit()
        return result.rowcount or 0


__all__ = ["EnrichmentNeeded", "IncomingEvent", "InboxWorker", "InboxProcessor", "Parcel", "StoredEvent", "enqueue", "idempotency_key",
           "backoff_delay", "purge_finished", "replay_dead"]
