"""One dispatch pass: plan the slots that fell due, hand due reminders to the delivery outbox,
send what the outbox holds, record.

A pass is safe to run from several processes at once:
* planning moves each person's ``next_due_at`` with a compare-and-set (and, on PostgreSQL,
  under ``FOR UPDATE SKIP LOCKED``), and reminder rows are unique per (user, slot);
* staging takes due pending reminder rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite
  the UPDATE is the compare-and-set under the single writer), decides and renders them, and puts
  one ``delivery_outbox`` row each, keyed by the reminder's id, in the same transaction: a worker
  killed mid-stage leaves nothing half-done, and the reminder is in the outbox exactly once;
* sending is the delivery outbox's (``bot.outbox``): lease claims, the shared retry policy
  (``bot.retry``), the same idempotency key on every try, so a worker that dies mid-send leaves
  rows whose lease runs out and whose re-send the platform drops as a duplicate. The outcome and
  the reminder's own record (status, the person's nudge history) commit together.
Sends run concurrently under a token bucket (``settings.reminder_rate_per_second``) while the
next batch is planned and staged.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update

from bot.content import Content
from bot.crisis import FLOW as CRISIS_FLOW, followup_choices
from bot.delivery import DeliveryError
from bot.outbox import Finished, Outbox, Outgoing
from bot.reminders.models import NudgeHistory, ReminderOutbox, ReminderPrefs
from bot.reminders.picker import SIGNAL_WINDOW, ThemeRound, group_by_theme, pick_nudge
from bot.reminders.planner import (
    Decision, PlanState, UserState, decide, parse_hhmm, plan_due_slots, zone,
)
from bot.reminders.ratelimit import TokenBucket
from bot.reminders.service import schedule_of
from bot.store.models import Conversation, SignalRecord, User
from bot.types import Choice, Reply, UserKey

log = logging.getLogger("bansou.reminders")

OUTBOX = ReminderOutbox.__table__
PREFS = ReminderPrefs.__table__
REMINDER_KIND = "reminder"  # the delivery outbox's kind for every reminder (nudge, follow-up, back-off)
# The bucket spaces when sends START; a busy event loop or the SDK's connection pool can hold some
# back by tens of ms and release them together, so the platform's 1-second window saw ~5% more than
# the bucket's rate (1,558/s against a 1,500 cap, benchmarks/RESULTS.md). Keep that much headroom.
SEND_HEADROOM = 0.95
# Sends in flight at once: twice the SDK's connection pool (cpu_count * 5) keeps it busy; more only
# queues requests that already hold a token inside the pool, where they bunch up (the same overshoot).
SEND_CONCURRENCY = 20


@dataclass(slots=True)
class PassResult:
    """What one pass did."""

    planned: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    postponed: int = 0
    retrying: int = 0

    def summary(self) -> str:
        return (f"sent {self.sent}, skipped {self.skipped}, failed {self.failed} "
                f"(planned {self.planned}, postponed {self.postponed}, retrying {self.retrying})")


@dataclass(slots=True)
class _Decided:
    """What staging decided for a batch of due rows, before it is written."""

    jobs: list["_Job"]
    postponed: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    picked: set[str]


@dataclass(slots=True)
class _Job:
    row_id: str
    user_id: int
    kind: str
    attempts: int
    user: UserKey
    reply: Reply
    context: dict[str, Any]
    nudge: tuple[str, str, int] | None = None  # (nudge id, theme, round) to record when sent


def answer_choices(content: Content, lang: str, outbox_id: str, flow: str | None, *,
                   question: bool = False) -> tuple[Choice, ...]:
    """The one-tap answers under a reminder: done (for a question: "thought about it"), later, and
    talk (opening ``flow``)."""
    ui = content.ui
    done = ui["nudge_button_thought"] if question else ui["nudge_button_done"]
    choices = [Choice(content.text(done, lang), f"nudge:{outbox_id}:done"),
               Choice(content.text(ui["nudge_button_later"], lang), f"nudge:{outbox_id}:later")]
    fid, _, state = (flow or "").partition(":")  # "talk about it" opens a flow, or a state of it
    if fid in content.flows and (not state or state in content.flows[fid].states):
        choices.append(Choice(content.text(ui["nudge_button_talk"], lang), f"nudge:{outbox_id}:talk:{flow}"))
    return tuple(choices)


BACKOFF_BUTTONS_FOR = timedelta(days=7)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def _asks(text: str) -> bool:
    """Whether a reminder ends on a question (then "Done" would not fit as an answer)."""
    return text.rstrip().endswith(("?", "？"))


def backoff_choices(content: Content, lang: str) -> tuple[Choice, ...]:
    return (Choice(content.text("reminders.backoff_keep", lang), "go:reminder_checkin"),
            Choice(content.text("reminders.backoff_change", lang), "go:settings"),
            Choice(content.text("reminders.backoff_stop", lang), "cmd:stop_reminders"))


def default_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dispatcher:
    """Runs dispatch passes against the database and ``runtime.senders``."""

    def __init__(self, runtime, *, rng: random.Random | None = None, worker_id: str | None = None,
                 batch_size: int = 500, concurrency: int = SEND_CONCURRENCY, rate_per_second: float | None = None):
        self.runtime = runtime
        self.db = runtime.db
        self.content: Content = runtime.content
        self.settings = runtime.settings
        self.clock = runtime.clock
        self.rng = rng or random.Random()
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.grace = timedelta(hours=self.settings.reminder_grace_hours)
        self.bucket = TokenBucket.for_cap((rate_per_second or self.settings.reminder_rate_per_second) * SEND_HEADROOM)
        self.lock = asyncio.Lock()
        # On SQLite this pass's writing stages take turns (see ``Outbox.write_lock``).
        self._writes = asyncio.Lock() if self.db.is_sqlite else contextlib.nullcontext()
        self._pg = not self.db.is_sqlite
        self._nudges = list(self.content.nudges.values())
        self._pools = group_by_theme(self._nudges)

    # ------------------------------------------------------------------------------ a pass
    async def run_pass(self, now: datetime | None = None) -> PassResult:
        """Plan, claim, send and record everything due at ``now`` (default: the runtime's clock).

        Four stages overlap: planning commits rows batch by batch while claimed batches are
        rendered, sent and recorded, so a large pass is bounded by its slowest stage (normally
        the rate cap), not by their sum."""
        async with self.lock:
            now = now or self.clock()
            result = PassResult()
            outbox = self.outbox(now)
            planning = asyncio.create_task(self.plan(now, result))
            staged = asyncio.Event()

            async def stage_stage() -> None:
                while True:
                    if await self.stage(now, result, outbox):
                        staged.set()
                        continue
                    if planning.done():
                        planning.result()  # re-raise a planning failure
                        if await self.stage(now, result, outbox):  # rows planned at the very end
                            staged.set()
                            continue
                        return
                    await asyncio.wait({planning}, timeout=0.02)

            staging = asyncio.create_task(stage_stage())

            to_record: asyncio.Queue = asyncio.Queue(maxsize=1)

            async def send_stage() -> None:  # claims and sends the next batch while the last is recorded
                try:
                    while True:
                        if await self.deliver(outbox, to_record):
                            continue
                        if staging.done():
                            staging.result()
                            if await self.deliver(outbox, to_record):
                                continue
                            return
                        staged.clear()
                        waiter = asyncio.create_task(staged.wait())
                        await asyncio.wait({staging, waiter}, return_when=asyncio.FIRST_COMPLETED)
                        waiter.cancel()
                finally:
                    await to_record.put(None)

            async def record_stage() -> None:
                while (results := await to_record.get()) is not None:
                    self._count(await outbox.record(results), result)

            sending = asyncio.create_task(send_stage())
            recording = asyncio.create_task(record_stage())
            try:
                await asyncio.gather(staging, sending, recording)
                result.planned = await planning
            except BaseException:
                for t in (staging, sending, recording, planning):
                    t.cancel()
                await asyncio.gather(staging, sending, recording, planning, return_exceptions=True)
                raise
            if result.sent or result.failed or result.skipped:
                log.info("reminder pass", extra={"sent": result.sent, "skipped": result.skipped,
                                                 "failed": result.failed, "postponed": result.postponed})
            from bot.metrics import count_reminder_pass  # Prometheus counts (bot/metrics.py)

            count_reminder_pass(self.runtime, result)
            return result

    # ---------------------------------------------------------------------------- planning
    async def plan(self, now: datetime, result: PassResult) -> int:
        """Materialise every slot due by ``now`` into outbox rows; returns how many will be sent."""
        planned = 0
        while True:
            async with self._writes, self.db.session() as s:
                q = (select(PREFS.c.user_id, PREFS.c.days, PREFS.c.time_of_day, PREFS.c.paused_until,
                            PREFS.c.next_due_at, PREFS.c.frequency_factor, PREFS.c.slot_seq,
                            PREFS.c.backoff_asked_at, User.timezone)
                     .join(User, User.id == PREFS.c.user_id)
                     .where(PREFS.c.enabled.is_(True), PREFS.c.next_due_at <= now, User.active.is_(True),
                            User.crisis_paused_at.is_(None))
                     .order_by(PREFS.c.next_due_at).limit(self.batch_size))
                if self._pg:
                    q = q.with_for_update(of=PREFS, skip_locked=True)
                due = (await s.execute(q)).all()
                if not due:
                    return planned
                ignored = await self._ignored_counts(s, [r.user_id for r in due])
                moves, rows = [], []
                for r in due:
                    state = PlanState(next_due_at=r.next_due_at, frequency_factor=r.frequency_factor,
                                      slot_seq=r.slot_seq, backoff_asked_at=r.backoff_asked_at)
                    sched = schedule_of(_PrefsView(r.days, r.time_of_day, r.paused_until))
                    plan = plan_due_slots(state, sched, zone(r.timezone, self.settings.default_timezone), now=now,
                                          grace=self.grace, ignored=ignored.get(r.user_id, 0))
                    st = plan.state
                    moves.append({"b_uid": r.user_id, "b_old": r.next_due_at, "b_next": st.next_due_at,
                                  "b_factor": st.frequency_factor, "b_seq": st.slot_seq,
                                  "b_streak": st.ignored_streak, "b_asked": st.backoff_asked_at, "b_now": now})
                    for p in plan.rows:
                        rows.append({"id": str(uuid.uuid4()), "user_id": r.user_id, "kind": p.kind,
                                     "slot_key": f"slot:{p.slot_at.strftime('%Y%m%dT%H%M%SZ')}",
                                     "slot_at": p.slot_at, "due_at": p.slot_at, "status": p.status,
                                     "attempts": 0, "reason": p.reason, "created_at": now})
                won = await self._move_prefs(s, moves)
                rows = [row for row in rows if row["user_id"] in won]
                if rows:
                    await s.execute(insert(OUTBOX), rows)
                await s.commit()
            for row in rows:
                if row["status"] == "pending":
                    planned += 1
                else:
                    result.skipped += 1

    async def _move_prefs(self, s, moves: list[dict]) -> set[int]:
        """Advance next_due_at with a compare-and-set; the user ids whose move this pass won."""
        stmt = (update(PREFS)
                .where(PREFS.c.user_id == bindparam("b_uid"), PREFS.c.next_due_at == bindparam("b_old"))
                .values(next_due_at=bindparam("b_next"), frequency_factor=bindparam("b_factor"),
                        slot_seq=bindparam("b_seq"), ignored_streak=bindparam("b_streak"),
                        backoff_asked_at=bindparam("b_asked"), updated_at=bindparam("b_now")))
        if self._pg:  # rows are locked FOR UPDATE by this transaction: every move is ours
            await s.execute(stmt, moves)
            return {m["b_uid"] for m in moves}
        res = await s.execute(stmt, moves)
        if res.rowcount == len(moves):
            return {m["b_uid"] for m in moves}
        await s.rollback()  # someone else moved some of them: find out which, one by one
        won = set()
        for m in moves:
            if (await s.execute(stmt, m)).rowcount == 1:
                won.add(m["b_uid"])
        return won

    async def _ignored_counts(self, s, user_ids: list[int]) -> dict[int, int]:
        """Reminders sent since the person last wrote, tapped, or re-chose their reminders."""
        o = OUTBOX
        q = (select(o.c.user_id, func.count())
             .join(User, User.id == o.c.user_id).join(PREFS, PREFS.c.user_id == o.c.user_id)
             .where(o.c.user_id.in_(user_ids), o.c.status == "sent", o.c.kind.in_(("nudge", "followup")),
                    or_(User.last_message_at.is_(None), o.c.sent_at > User.last_message_at),
                    or_(PREFS.c.streak_reset_at.is_(None), o.c.sent_at > PREFS.c.streak_reset_at),
                    or_(PREFS.c.backoff_asked_at.is_(None), o.c.sent_at > PREFS.c.backoff_asked_at))
             .group_by(o.c.user_id))
        return {uid: n for uid, n in (await s.execute(q)).all()}

    # ----------------------------------------------------------------------------- staging
    def outbox(self, now: datetime) -> Outbox:
        """The delivery outbox as this pass sees it: its clock stands at ``now``, a reminder is
        retried for as long as it may still be sent (the grace window), and its outcome updates the
        reminder's own row."""
        return Outbox(self.db, clock=lambda: now, horizon=self.grace, worker_id=self.worker_id,
                      hooks={REMINDER_KIND: self._record}, write_lock=self._writes)

    async def stage(self, now: datetime, result: PassResult, outbox: Outbox) -> int:
        """Take up to ``batch_size`` due pending reminder rows, decide each (send, postpone, skip),
        render, and in one transaction move them on and put the ones to send in the delivery
        outbox (a row another worker moved meanwhile is left to it). Returns how many due rows
        were looked at."""
        held = await self._held_platforms()  # asked outside any transaction: it may use the network
        due = (select(OUTBOX.c.id, OUTBOX.c.user_id, OUTBOX.c.kind, OUTBOX.c.attempts, OUTBOX.c.due_at,
                      OUTBOX.c.nudge_id, OUTBOX.c.message_id, OUTBOX.c.flow, OUTBOX.c["values"])
               .where(OUTBOX.c.status == "pending", OUTBOX.c.due_at <= now)
               .order_by(OUTBOX.c.due_at).limit(self.batch_size))
        if self._pg:  # the rows stay locked by this transaction until they have moved on
            async with self.db.session() as s:
                rows = list((await s.execute(due.with_for_update(skip_locked=True))).all())
                if not rows:
                    await s.rollback()
                    return 0
                decided = await self._prepare(s, rows, now, held)
                await self._move_on(s, decided, now, result, outbox)
                await s.commit()
            return len(rows)
        # SQLite: decide and render outside the write lock (a read transaction that later writes
        # would fail if another connection wrote meanwhile), then move on with compare-and-set.
        async with self.db.session() as s:
            rows = list((await s.execute(due)).all())
            decided = await self._prepare(s, rows, now, held) if rows else None
            await s.rollback()
        if decided is None:
            return 0
        async with self._writes, self.db.session() as s:
            await self._move_on(s, decided, now, result, outbox)
            await s.commit()
        return len(rows)

    async def _move_on(self, s, decided: "_Decided", now: datetime, result: PassResult, outbox: Outbox) -> None:
        """Write what ``_prepare`` decided, only for rows still pending (compare-and-set)."""
        still = OUTBOX.c.status == "pending"
        if decided.postponed:
            await s.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id"), still)
                            .values(due_at=bindparam("b_due")), decided.postponed)
        if decided.skipped:
            await s.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id"), still)
                            .values(status="skipped", reason=bindparam("b_reason"), values=None), decided.skipped)
        jobs = decided.jobs
        if jobs:
            won = set((await s.execute(
                update(OUTBOX).where(OUTBOX.c.id.in_([j.row_id for j in jobs]), still)
                .values(status="sending", claimed_by=self.worker_id, claimed_at=now)
                .returning(OUTBOX.c.id))).scalars())
            jobs = [j for j in jobs if j.row_id in won]
            picked = [{"b_id": j.row_id, "b_nudge": j.nudge[0]} for j in jobs if j.row_id in decided.picked]
            if picked:
                await s.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id"))
                                .values(nudge_id=bindparam("b_nudge")), picked)
            await outbox.put([Outgoing(key=j.row_id, kind=REMINDER_KIND, user=j.user, replies=[j.reply],
                                       context=j.context) for j in jobs], session=s)
        result.postponed += len(decided.postponed)
        result.skipped += len(decided.skipped)

    async def _held_platforms(self) -> dict[str, str | None]:
        """Hook (LINE quota): a sender may hold pushes back for now; asked once per platform, per batch."""
        held: dict[str, str | None] = {}
        for platform, sender in self.runtime.senders.items():
            ask = getattr(sender, "push_hold_reason", None)
            held[platform] = await ask() if ask is not None else None
        return held

    async def _prepare(self, s, claimed: list[Any], now: datetime, held: dict[str, str | None]) -> "_Decided":
        """Decide each due row (send, postpone, skip) and render what will be sent (reads only)."""
        ids = sorted({r.user_id for r in claimed})
        users = {u.id: u for u in (await s.execute(
            select(User.id, User.platform, User.platform_user_id, User.language, User.timezone, User.active,
                   User.crisis_paused_at, User.last_message_at, User.platform_meta)
            .where(User.id.in_(ids)))).all()}
        convos = dict((await s.execute(select(Conversation.user_id, Conversation.expires_at)
                                       .where(Conversation.user_id.in_(ids)))).all())
        prefs = {p.user_id: p for p in (await s.execute(
            select(PREFS.c.user_id, PREFS.c.enabled, PREFS.c.paused_until, PREFS.c.quiet_start,
                   PREFS.c.quiet_end, PREFS.c.time_of_day, PREFS.c.backoff_asked_at)
            .where(PREFS.c.user_id.in_(ids)))).all()}
        need_nudge = sorted({r.user_id for r in claimed if r.kind == "nudge" and not r.nudge_id})
        history, recent = await self._nudge_context(s, need_nudge, now)
        postponed, skipped, picked, jobs = [], [], [], []
        for row in claimed:
            user = users.get(row.user_id)
            if user is None:
                skipped.append({"b_id": row.id, "b_reason": "user gone"})
                continue
            decision = decide(row.kind, due_at=row.due_at, user=self._user_state(user, convos, prefs), now=now,
                              grace=self.grace)
            if decision.action == "send" and user.platform not in self.runtime.senders:
                decision = Decision("skip", reason=f"no sender for platform {user.platform!r}")
            if decision.action == "send" and held.get(user.platform):  # hook (LINE quota)
                decision = Decision("skip", reason=held[user.platform])
            if decision.action == "postpone":
                postponed.append({"b_id": row.id, "b_due": decision.until})
                continue
            if decision.action == "skip":
                skipped.append({"b_id": row.id, "b_reason": decision.reason})
                continue
            p = prefs.get(user.id)
            asked = p.backoff_asked_at if p is not None else None
            job = self._render(row, user, history, recent,
                               backoff_open=asked is not None and now - _aware(asked) < BACKOFF_BUTTONS_FOR)
            if job is None:
                skipped.append({"b_id": row.id, "b_reason": "nothing to render (content changed)"})
                continue
            if job.nudge and not row.nudge_id:
                picked.append(row.id)
            jobs.append(job)
        return _Decided(jobs=jobs, postponed=postponed, skipped=skipped, picked=set(picked))

    def _user_state(self, user, convos, prefs) -> UserState:
        p = prefs.get(user.id)
        return UserState(
            active=bool(user.active), crisis_paused=user.crisis_paused_at is not None,
            last_message_at=user.last_message_at, conversation_expires_at=convos.get(user.id),
            tz=zone(user.timezone, self.settings.default_timezone),
            reminders_enabled=bool(p and p.enabled), paused_until=p.paused_until if p else None,
            quiet_start=parse_hhmm(p.quiet_start if p else "22:00"), quiet_end=parse_hhmm(p.quiet_end if p else "07:00"),
            chosen_time=parse_hhmm(p.time_of_day) if p else None)

    async def _nudge_context(self, s, user_ids: list[int], now: datetime):
        history: dict[int, dict[str, ThemeRound]] = defaultdict(dict)
        recent: dict[int, set[str]] = defaultdict(set)
        if not user_ids:
            return history, recent
        rows = (await s.execute(select(NudgeHistory.user_id, NudgeHistory.theme, NudgeHistory.round,
                                       NudgeHistory.nudge_id).where(NudgeHistory.user_id.in_(user_ids)))).all()
        rounds: dict[tuple[int, str], int] = {}
        for r in rows:
            rounds[(r.user_id, r.theme)] = max(rounds.get((r.user_id, r.theme), 0), r.round)
        used: dict[tuple[int, str], set[str]] = defaultdict(set)
        for r in rows:
            if r.round == rounds[(r.user_id, r.theme)]:
                used[(r.user_id, r.theme)].add(r.nudge_id)
        for (uid, theme), rnd in rounds.items():
            history[uid][theme] = ThemeRound(rnd, frozenset(used[(uid, theme)]))
        for uid, kind in (await s.execute(
                select(SignalRecord.user_id, SignalRecord.kind).distinct()
                .where(SignalRecord.user_id.in_(user_ids), SignalRecord.at >= now - SIGNAL_WINDOW))).all():
            recent[uid].add(kind)
        return history, recent

    def _render(self, row, user, history, recent, *, backoff_open: bool = False) -> _Job | None:
        lang = user.language if user.language in ("ja", "en") else self.settings.default_language
        key = UserKey(user.platform, user.platform_user_id)
        context = dict(user.platform_meta or {}, push=True, reminder_kind=row.kind)
        nudge_info = None
        if row.kind == "nudge":
            nudge = self.content.nudges.get(row.nudge_id) if row.nudge_id else None
            if nudge is None:
                got = pick_nudge(self._nudges, history=history[user.id], recent_kinds=recent[user.id],
                                 rng=self.rng, pools=self._pools)
                if got is None:
                    return None
                nudge, round_no = got
                progress = history[user.id].get(nudge.theme)
                used = (progress.used if progress and progress.round == round_no else frozenset()) | {nudge.id}
                history[user.id][nudge.theme] = ThemeRound(round_no, frozenset(used))
            else:
                progress = history[user.id].get(nudge.theme)
                round_no = progress.round if progress else 1
            nudge_info = (nudge.id, nudge.theme, round_no)
            choices = answer_choices(self.content, lang, row.id, nudge.flow, question=_asks(nudge.text[lang]))
            if backoff_open:  # the back-off question's answers stay at hand under the reminders after it
                choices += backoff_choices(self.content, lang)
            reply = Reply(text=nudge.text[lang], message_id=f"nudge.{nudge.id}", choices=choices)
        elif row.kind == "followup":
            if row.message_id not in self.content.messages:
                return None
            message_id, values = row.message_id, row.values or {}
            if self.content.placeholders(message_id) - set(values) and f"{message_id}.plain" in self.content.messages:
                message_id, values = f"{message_id}.plain", {}  # queued before its wording changed: never a raw {name}
            choices = (followup_choices(self.content, lang) if row.flow == CRISIS_FLOW  # a check-in after crisis care
                       else answer_choices(self.content, lang, row.id, row.flow,
                                           question=_asks(self.content.text(message_id, lang))))
            reply = Reply(text=self.content.text(message_id, lang, values), message_id=message_id, choices=choices)
        elif row.kind == "backoff":
            reply = Reply(text=self.content.text("reminders.backoff_question", lang),
                          message_id="reminders.backoff_question", choices=backoff_choices(self.content, lang))
        else:
            return None
        context["reminder"] = {"user_id": user.id, "nudge": list(nudge_info) if nudge_info else None}
        return _Job(row_id=row.id, user_id=user.id, kind=row.kind, attempts=row.attempts, user=key, reply=reply,
                    context=context, nudge=nudge_info)

    # ----------------------------------------------------------------------------- sending
    async def deliver(self, outbox: Outbox, to_record: asyncio.Queue) -> int:
        """Claim one batch of due deliveries from the outbox (reminders and any other kind the
        senders here can send), send them under the rate cap and hand the outcomes to
        ``to_record``. Returns how many were claimed."""
        rows = await outbox.claim(limit=self.batch_size, platforms=list(self.runtime.senders))
        if rows:
            await to_record.put(await outbox.send(rows, self.runtime.senders, concurrency=self.concurrency,
                                                  before_send=self.bucket.acquire))
        return len(rows)

    @staticmethod
    def _count(done: list[Finished], result: PassResult) -> None:
        for f in done:
            if f.row.kind != REMINDER_KIND:
                continue
            if f.status == "sent":
                result.sent += 1
            elif f.status == "pending":
                result.retrying += 1
            else:
                result.failed += 1

    async def _record(self, s, finished: list[Finished], now: datetime) -> None:
        """The delivery outbox's hook for reminders: the reminder's row (and, for a nudge, the
        person's history) follows its delivery's outcome, in the same transaction."""
        sent, retry, failed, history = [], [], [], []
        for f in finished:
            if f.status == "sent":
                sent.append({"b_id": f.row.key, "b_attempts": f.attempts})
                info = f.row.context.get("reminder") or {}
                if info.get("nudge"):
                    nudge_id, theme, round_no = info["nudge"]
                    history.append({"user_id": info["user_id"], "nudge_id": nudge_id, "theme": theme,
                                    "round": round_no, "at": now})
            elif f.status == "pending":
                retry.append({"b_id": f.row.key, "b_due": f.due_at, "b_attempts": f.attempts,
                              "b_reason": _reason(f.error)})
            else:
                failed.append({"b_id": f.row.key, "b_status": f.status, "b_attempts": f.attempts,
                               "b_reason": _reason(f.error)})
        by_attempts: dict[int, list[str]] = defaultdict(list)  # one statement per count (nearly always one)
        for row in sent:
            by_attempts[row["b_attempts"]].append(row["b_id"])
        for attempts, ids in by_attempts.items():
            await s.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids))
                            .values(status="sent", sent_at=now, attempts=attempts, values=None, reason=None))
        if retry:  # still in the delivery outbox: the row shows when and why it is tried again
            await s.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id"))
                            .values(due_at=bindparam("b_due"), attempts=bindparam("b_attempts"),
                                    reason=bindparam("b_reason")), retry)
        if failed:
            await s.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id"))
                            .values(status=bindparam("b_status"), attempts=bindparam("b_attempts"),
                                    reason=bindparam("b_reason"), values=None), failed)
        if history:
            await s.execute(insert(NudgeHistory.__table__), history)


def _reason(error: BaseException | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, DeliveryError):
        return f"{error.status or ''} {error}".strip()[:200]
    return type(error).__name__


@dataclass(frozen=True, slots=True)
class _PrefsView:
    """The three columns ``schedule_of`` reads, from a Core row."""

    days: str
    time_of_day: str
    paused_until: datetime | None


__all__ = ["Dispatcher", "PassResult", "answer_choices", "backoff_choices"]
