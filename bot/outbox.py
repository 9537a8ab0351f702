"""The durable delivery outbox: outgoing deliveries stored with the state that caused them, then
claimed, sent through the platform's ``Sender`` and recorded, under one retry policy.

* A delivery is put in the outbox in the caller's transaction (``Outbox.put(..., session=)``), so it
  exists exactly when the state change that caused it committed. Its ``key`` is unique and is the
  idempotency key of every attempt (LINE's ``X-Line-Retry-Key``, Slack's part ledger, the web's
  de-duplication): putting the same key twice is a no-op, and sending it twice reaches the person once.
* ``claim`` takes due rows with a lease in one statement: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
  (claimers in several processes never wait on, or take, each other's rows); on SQLite the UPDATE
  is itself the compare-and-set, under SQLite's single writer. A claimer that dies leaves its rows
  ``sending``; when the lease runs out they are claimable again, with the same key.
* Recording a result is fenced by the claim (``claimed_by``): a claimer whose lease ran out and
  whose row someone else took cannot overwrite the other's result.
* Failures follow ``bot.retry``: retryable ones are tried again after the backoff until
  ``retry_until`` (the horizon after the row was put), then ``dead`` with the reason and the
  replies kept; ``replay_dead`` (``bansou inbox retry``) gives them another horizon. Final errors
  (the platform said no) are ``failed``. Once sent, a row's replies (message text) are cleared.
* ``PartLedger``: which requests of a multi-request send the platform accepted, in the database, so a
  retry in another process or after a restart sends only what is missing.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Protocol

from sqlalchemy import bindparam, delete, func, or_, select, update

from bot.delivery import Delivery, DeliveryError, Sender, reply_from_json, reply_to_json
from bot.retry import DEFAULT_HORIZON, next_attempt_at
from bot.store.db import Database
from bot.store.outbox_models import DeliveryPart, OutboxDelivery
from bot.types import Reply, UserKey

log = logging.getLogger("bansou.outbox")

T = OutboxDelivery.__table__
PARTS = DeliveryPart.__table__
DEFAULT_LEASE = timedelta(minutes=5)  # longer than any send: a slow send is never taken for a dead one
STATUSES = ("pending", "sending", "sent", "failed", "dead")
FINISHED = ("sent", "failed")


def default_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A delivery to store: its idempotency key, what kind it is, whom it is for and what to send."""

    key: str
    kind: str
    user: UserKey
    replies: Sequence[Reply]
    context: Mapping[str, Any] = field(default_factory=dict)
    due_at: datetime | None = None  # None: now


@dataclass(slots=True)
class Claimed:
    """A delivery this claimer holds until ``lease_until``."""

    id: int
    key: str
    kind: str
    user_key: str
    payload: dict[str, Any]
    attempts: int
    retry_until: datetime
    lease_until: datetime

    @property
    def user(self) -> UserKey:
        platform, _, user_id = self.user_key.partition(":")
        return UserKey(platform, user_id)

    @property
    def replies(self) -> list[Reply]:
        return [reply_from_json(r) for r in (self.payload or {}).get("replies", [])]

    @property
    def context(self) -> dict[str, Any]:
        return dict((self.payload or {}).get("context", {}))


@dataclass(slots=True)
class Finished:
    """The recorded outcome of one try: ``sent``, ``pending`` (retried at ``due_at``), ``failed`` or
    ``dead``; ``attempts`` counts this try; ``error`` is what the sender raised."""

    row: Claimed
    status: str
    attempts: int
    due_at: datetime | None = None
    error: BaseException | None = None


# Called inside the transaction that records outcomes, once per kind: the state a delivery's
# outcome changes (a reminder's row, a person's history) commits with the outcome or not at all.
FinishHook = Callable[[Any, list[Finished], datetime], Awaitable[None]]


class Outbox:
    """The outbox of one database, as one claimer (``worker_id``) sees it."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime], horizon: timedelta = DEFAULT_HORIZON,
                 lease: timedelta = DEFAULT_LEASE, worker_id: str | None = None,
                 hooks: Mapping[str, FinishHook] | None = None, write_lock: asyncio.Lock | None = None):
        self.db = db
        self.clock = clock
        self.horizon = horizon
        self.lease = lease
        self.worker_id = worker_id or default_worker_id()
        self.hooks: dict[str, FinishHook] = dict(hooks or {})
        # SQLite has one writer: stages of one process that write take turns here rather than
        # meet in SQLite's busy handler, which sleeps in steps of up to 100 ms.
        self.write_lock = write_lock or contextlib.nullcontext()
        self.on_finished: list[Callable[[Claimed, str], None]] = []  # metrics: (row, sent|failed|dead)

    # ------------------------------------------------------------------------------ putting
    async def put(self, items: Iterable[Outgoing], *, session=None) -> int:  # noqa: ANN001
        """Store deliveries (a key already stored is skipped); in ``session``'s transaction when
        given (the caller commits), else in one of its own. Returns how many were new."""
        now = self.clock()
        rows = [{"key": i.key[:64], "kind": i.kind, "user_key": f"{i.user.platform}:{i.user.user_id}",
                 "payload": {"replies": [reply_to_json(r) for r in i.replies], "context": dict(i.context)},
                 "status": "pending", "attempts": 0, "due_at": i.due_at or now,
                 "retry_until": (i.due_at or now) + self.horizon, "created_at": now} for i in items]
        if not rows:
            return 0
        if session is None:
            async with self.db.session() as own:
                n = await self.put_rows(own, rows)
                await own.commit()
                return n
        return await self.put_rows(session, rows)

    async def put_rows(self, session, rows: list[dict[str, Any]]) -> int:  # noqa: ANN001
        insert = _insert(self.db)
        # executemany (one compiled statement, cached) rather than one VALUES list per call
        result = await session.execute(insert(T).on_conflict_do_nothing(index_elements=["key"])
                                       .returning(T.c.id), rows)
        return len(result.all())

    # ----------------------------------------------------------------------------- claiming
    async def claim(self, *, limit: int = 100, kinds: Sequence[str] | None = None,
                    platforms: Sequence[str] | None = None) -> list[Claimed]:
        """Take up to ``limit`` due rows (pending and due, or sending with an expired lease) for
        this claimer, oldest due first, in one statement."""
        now = self.clock()
        due = or_((T.c.status == "pending") & (T.c.due_at <= now),
                  (T.c.status == "sending") & (T.c.lease_until < now))
        sub = select(T.c.id).where(due)
        if kinds:
            sub = sub.where(T.c.kind.in_(list(kinds)))
        if platforms:
            sub = sub.where(or_(*(T.c.user_key.startswith(f"{p}:") for p in platforms)))
        sub = sub.order_by(T.c.due_at, T.c.id).limit(limit)
        if not self.db.is_sqlite:
            sub = sub.with_for_update(skip_locked=True)
        lease_until = now + self.lease
        # ``due`` again on the UPDATE: on SQLite the statement is the compare-and-set.
        stmt = (update(T).where(T.c.id.in_(sub.scalar_subquery()), due)
                .values(status="sending", claimed_by=self.worker_id, lease_until=lease_until)
                .returning(T.c.id, T.c.key, T.c.kind, T.c.user_key, T.c.payload, T.c.attempts, T.c.retry_until))
        async with self.write_lock, self.db.session() as s:
            rows = (await s.execute(stmt)).all()
            await s.commit()
        claimed = [Claimed(id=r.id, key=r.key, kind=r.kind, user_key=r.user_key, payload=r.payload or {},
                           attempts=r.attempts, retry_until=r.retry_until, lease_until=lease_until) for r in rows]
        claimed.sort(key=lambda c: c.id)
        return claimed

    # ---------------------------------------------------------------------------- recording
    def _mine(self, row: Claimed):
        return (T.c.id == row.id) & (T.c.status == "sending") & (T.c.claimed_by == self.worker_id)

    async def sent(self, row: Claimed) -> bool:
        """Record a delivery the platform accepted; False when the claim was lost meanwhile."""
        return bool(await self.record([(row, None)]))

    async def failed(self, row: Claimed, error: DeliveryError | Exception) -> str | None:
        """Record a failed try: ``pending`` again after the backoff, ``dead`` past ``retry_until``,
        or ``failed`` when the platform said no for good. Returns the new status (None: claim lost)."""
        done = await self.record([(row, error)])
        return done[0].status if done else None

    def _failure(self, row: Claimed, error: BaseException, now: datetime) -> tuple[dict[str, Any], Finished]:
        attempts = row.attempts + 1
        retryable = error.retryable if isinstance(error, DeliveryError) else True
        retry_after = error.retry_after if isinstance(error, DeliveryError) else None
        reason = (str(error) if isinstance(error, DeliveryError) else f"send: {type(error).__name__}")[:480]
        values: dict[str, Any] = {"attempts": attempts, "lease_until": None}
        at = None
        if not retryable:
            values.update(status="failed", finished_at=now, payload={}, error=reason)
        else:
            at = next_attempt_at(attempts=attempts, now=now, deadline=row.retry_until, retry_after=retry_after)
            if at is None:
                values.update(status="dead", finished_at=now, error=f"out of time: {reason}"[:500])
            else:
                values.update(status="pending", due_at=at, claimed_by=None, error=reason)
        return values, Finished(row, values["status"], attempts, due_at=at, error=error)

    async def record(self, results: Sequence[tuple[Claimed, BaseException | None]]) -> list[Finished]:
        """Record the outcome of each try (None: sent) in one transaction, fenced by the claim, with
        the hook of each kind run in that transaction. Returns the outcomes recorded (a row whose
        claim was lost meanwhile is left out)."""
        now = self.clock()
        ok = [row for row, error in results if error is None]
        done: list[Finished] = []
        async with self.write_lock, self.db.session() as s:
            if ok:
                won = set((await s.execute(
                    update(T).where(T.c.id.in_([r.id for r in ok]), T.c.status == "sending",
                                    T.c.claimed_by == self.worker_id)
                    .values(status="sent", attempts=T.c.attempts + 1, finished_at=now, payload={}, error=None,
                            lease_until=None)
                    .returning(T.c.id))).scalars())
                done += [Finished(r, "sent", r.attempts + 1) for r in ok if r.id in won]
            for row, error in results:
                if error is None:
                    continue
                values, outcome = self._failure(row, error, now)
                if (await s.execute(update(T).where(self._mine(row)).values(**values))).rowcount:
                    done.append(outcome)
            for kind in sorted({f.row.kind for f in done}):
                hook = self.hooks.get(kind)
                if hook is not None:
                    await hook(s, [f for f in done if f.row.kind == kind], now)
            await s.commit()
        for f in done:
            if f.status in ("failed", "dead"):
                log.error("delivery %s", "failed for good" if f.status == "failed" else "ran out of time",
                          extra={"kind": f.row.kind, "platform": f.row.user.platform, "attempt": f.attempts})
            if f.status != "pending":
                self._notify(f.row, f.status)
        return done

    def _notify(self, row: Claimed, status: str) -> None:
        for cb in self.on_finished:
            cb(row, status)

    # ------------------------------------------------------------------------------ sending
    async def deliver_due(self, senders: Mapping[str, Sender], *, limit: int = 100,
                          kinds: Sequence[str] | None = None) -> dict[str, int]:
        """One pass: claim what is due for the platforms in ``senders``, send each through its
        platform's sender with the row's key, record the outcome. Returns counts by outcome."""
        rows = await self.claim(limit=limit, kinds=kinds, platforms=list(senders))
        done = await self.send_claimed(rows, senders)
        outcome: dict[str, int] = {}
        for f in done:
            outcome[f.status] = outcome.get(f.status, 0) + 1
        if len(done) < len(rows):
            outcome["lost"] = len(rows) - len(done)
        return outcome

    async def send_claimed(self, rows: Sequence[Claimed], senders: Mapping[str, Sender], *, concurrency: int = 1,
                           before_send: Callable[[], Awaitable[Any]] | None = None) -> list[Finished]:
        """Send claimed rows (``send``), then record every outcome in one transaction (``record``)."""
        return await self.record(await self.send(rows, senders, concurrency=concurrency, before_send=before_send))

    async def send(self, rows: Sequence[Claimed], senders: Mapping[str, Sender], *, concurrency: int = 1,
                   before_send: Callable[[], Awaitable[Any]] | None = None,
                   ) -> list[tuple[Claimed, BaseException | None]]:
        """Send claimed rows through their platforms' senders with each row's key, ``concurrency``
        at a time (each after ``before_send``, a rate limit). Returns each row with what its sender
        raised (None: accepted), for ``record``."""
        if not rows:
            return []
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(row: Claimed) -> tuple[Claimed, BaseException | None]:
            async with gate:
                sender = senders.get(row.user.platform)
                if sender is None:
                    return row, DeliveryError(f"no sender for platform {row.user.platform!r}", retryable=False)
                if before_send is not None:
                    await before_send()
                try:
                    await sender.send(Delivery(user=row.user, idempotency_key=row.key,
                                               context=dict(row.context, attempt=row.attempts)), row.replies)
                except Exception as exc:  # noqa: BLE001 - unexpected errors retry like transient ones
                    if not isinstance(exc, DeliveryError):
                        log.exception("sender raised", extra={"platform": row.user.platform, "kind": row.kind})
                    return row, exc
                return row, None

        return list(await asyncio.gather(*(one(r) for r in rows)))

    # ------------------------------------------------------------------------- operations
    async def replay_dead(self, *, since: datetime | None = None) -> int:
        """Give ``dead`` deliveries (those that died at or after ``since``) another horizon, with
        their kept replies and the same key. Returns how many."""
        now = self.clock()
        cond = [T.c.status == "dead"]
        if since is not None:
            cond.append(T.c.finished_at >= since)
        async with self.db.session() as s:
            res = await s.execute(update(T).where(*cond).values(
                status="pending", due_at=now, finished_at=None, claimed_by=None, lease_until=None,
                retry_until=now + self.horizon))
            await s.commit()
            return res.rowcount or 0

    async def counts(self) -> dict[str, int]:
        async with self.db.session() as s:
            rows = await s.execute(select(T.c.status, func.count()).group_by(T.c.status))
            return {status: n for status, n in rows}

    async def purge(self, *, before: datetime) -> int:
        """Forget finished deliveries and ledger parts older than ``before`` (no retry comes that late)."""
        async with self.db.session() as s:
            res = await s.execute(delete(T).where(T.c.status.in_(FINISHED), T.c.finished_at < before))
            await s.execute(delete(PARTS).where(PARTS.c.at < before))
            await s.commit()
            return res.rowcount or 0


KEEP_FINISHED = timedelta(days=7)
PURGE_INTERVAL_SECONDS = 6 * 3600.0
PURGE_JOB = "delivery_outbox_purge"


def install_housekeeping(runtime) -> None:  # noqa: ANN001
    """Register the periodic purge of finished deliveries and old ledger parts (once per runtime)."""
    if any(name == PURGE_JOB for name, _, _ in runtime.periodic):
        return

    async def purge(rt) -> int:  # noqa: ANN001
        return await Outbox(rt.db, clock=rt.clock).purge(before=rt.clock() - KEEP_FINISHED)

    runtime.periodic.append((PURGE_JOB, PURGE_INTERVAL_SECONDS, purge))


class PartLedger(Protocol):
    """Which requests (parts) of a multi-request send already went out, by idempotency key."""

    async def done(self, key: str) -> set[int]: ...

    async def mark(self, key: str, part: int, ref: str | None = None) -> None: ...


class DatabasePartLedger:
    """The part ledger in ``delivery_parts``: survives restarts and is shared by every process."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime]):
        self.db = db
        self.clock = clock
        self._select = select(PARTS.c.part).where(PARTS.c.key == bindparam("key"))

    async def done(self, key: str) -> set[int]:
        async with self.db.session() as s:
            return {r[0] for r in await s.execute(self._select, {"key": key[:64]})}

    async def mark(self, key: str, part: int, ref: str | None = None) -> None:
        insert = _insert(self.db)
        async with self.db.session() as s:
            await s.execute(insert(DeliveryPart).values(key=key[:64], part=part, ref=(ref or None) and ref[:80],
                                                        at=self.clock())
                            .on_conflict_do_nothing(index_elements=["key", "part"]))
            await s.commit()

    async def refs(self, key: str) -> dict[int, str | None]:
        async with self.db.session() as s:
            rows = await s.execute(select(PARTS.c.part, PARTS.c.ref).where(PARTS.c.key == key[:64]))
            return {part: ref for part, ref in rows}


class MemoryPartLedger:
    """A part ledger in this process only, for a client used without a database (a one-off CLI
    call, a test of the client alone). Bounded: the oldest keys are forgotten first."""

    def __init__(self, max_keys: int = 10_000):
        from collections import OrderedDict

        self._parts: OrderedDict[str, set[int]] = OrderedDict()
        self.max_keys = max_keys

    async def done(self, key: str) -> set[int]:
        return set(self._parts.get(key, ()))

    async def mark(self, key: str, part: int, ref: str | None = None) -> None:
        self._parts.setdefault(key, set()).add(part)
        self._parts.move_to_end(key)
        while len(self._parts) > self.max_keys:
            self._parts.popitem(last=False)


def _insert(db: Database):
    if db.is_sqlite:
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert


__all__ = ["Claimed", "DatabasePartLedger", "Finished", "FinishHook", "install_housekeeping", "MemoryPartLedger", "Outbox", "Outgoing", "PartLedger",
           "DEFAULT_LEASE", "STATUSES"]
