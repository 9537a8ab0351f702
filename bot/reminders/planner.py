"""Pure decisions about reminders: when the next slot is, what to do with slots that fell due,
and whether a due message may go out now. Every function takes the clock as an argument.

Daylight-saving time, deliberately:
* A chosen time that does not exist on a spring-forward day (02:30 in America/New_York on
  2026-03-08) is sent at the same distance past the gap, i.e. 03:30 local: the clocks jumped
  an hour, so does the reminder. It is sent once.
* A chosen time that happens twice on a fall-back day (01:30 on 2026-11-01) is sent at its
  first occurrence (fold=0, daylight time) and not again at the second.
* Every other day, the reminder is at the chosen wall-clock time, whatever the UTC offset.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.insights import zone  # noqa: F401  (the one zone(); bot.reminders.service imports it from here)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
IGNORED_BEFORE_BACKOFF = 3  # reminders in a row with no response before backing off
BACKOFF_FACTOR = 2  # after backing off, send every other chosen slot
RECENT_MESSAGE_QUIET = timedelta(hours=1)  # no reminder within an hour of the user's last message
CONVERSATION_RECHECK = timedelta(minutes=15)  # mid-conversation: look again this much later
MAX_SLOTS_PER_PLAN = 60  # after a long outage, record at most this many missed slots per person


@lru_cache(maxsize=2048)
def parse_hhmm(raw: str) -> time:
    h, m = raw.split(":")
    return time(int(h), int(m))


def local_slot(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``tz`` (see the module docstring for DST)."""
    # fold=0 does both things we want: an ambiguous wall time reads as its first occurrence, and
    # a wall time in the spring-forward gap reads with the offset from before the gap, which
    # lands the same distance past it (02:30 → 03:30).
    return datetime.combine(day, at).replace(tzinfo=tz, fold=0).astimezone(timezone.utc)


@dataclass(frozen=True, slots=True)
class Schedule:
    """What someone chose: days of the week, a wall-clock time, and an optional pause."""

    days: tuple[str, ...]
    at: time
    paused_until: datetime | None = None


def next_due(schedule: Schedule, tz: ZoneInfo, *, after: datetime) -> datetime | None:
    """The first chosen slot strictly after ``after`` (and not before a pause ends), in UTC."""
    if not schedule.days:
        return None
    start = after
    if schedule.paused_until is not None and schedule.paused_until > start:
        start = schedule.paused_until - timedelta(microseconds=1)  # a slot exactly at the end counts
    day = start.astimezone(tz).date() - timedelta(days=1)  # a slot may sit before the local midnight
    wanted = {WEEKDAYS.index(d) for d in schedule.days}
    for _ in range(16):
        if day.weekday() in wanted:
            slot = local_slot(day, schedule.at, tz)
            if slot > start:
                return slot
        day += timedelta(days=1)
    return None


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether a wall-clock time falls in [start, end), which may wrap past midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_end_after(now: datetime, tz: ZoneInfo, end: time) -> datetime:
    """The next moment quiet hours end, after ``now``."""
    local = now.astimezone(tz)
    candidate = local_slot(local.date(), end, tz)
    if candidate <= now:
        candidate = local_slot(local.date() + timedelta(days=1), end, tz)
    return candidate


# ---------------------------------------------------------------------------- planning slots


@dataclass(frozen=True, slots=True)
class PlanState:
    """The back-off bookkeeping the planner reads and returns."""

    next_due_at: datetime | None
    frequency_factor: int = 1
    slot_seq: int = 0
    ignored_streak: int = 0
    backoff_asked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """One outbox row to create for a slot: kind nudge|backoff, status pending|skipped."""

    slot_at: datetime
    kind: str
    status: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SlotPlan:
    rows: list[PlannedRow] = field(default_factory=list)
    state: PlanState | None = None


def plan_due_slots(state: PlanState, schedule: Schedule, tz: ZoneInfo, *, now: datetime,
                   grace: timedelta, ignored: int) -> SlotPlan:
    """Turn every slot due by ``now`` into outbox rows and move ``next_due_at`` on.

    * A slot older than ``grace`` (the worker was down) is recorded as skipped ("missed").
    * Of several slots within the grace window, only the latest is sent; the others are
      recorded as skipped ("superseded"), so a restart never sends a burst.
    * ``ignored`` is how many reminders in a row went unanswered. At IGNORED_BEFORE_BACKOFF, and
      only if never asked before, this slot carries the back-off question instead of a nudge and
      the frequency halves (BACKOFF_FACTOR). Afterwards a slot is sent only when
      ``slot_seq % frequency_factor == 0``; the others are recorded as skipped ("backoff").
    """
    due: list[datetime] = []
    cursor = state.next_due_at
    while cursor is not None and cursor <= now and len(due) < MAX_SLOTS_PER_PLAN:
        due.append(cursor)
        cursor = next_due(schedule, tz, after=cursor)
    if cursor is not None and cursor <= now:  # still behind after the cap: jump to the future
        cursor = next_due(schedule, tz, after=now)
    factor, seq, asked = state.frequency_factor, state.slot_seq, state.backoff_asked_at
    rows: list[PlannedRow] = []
    live = [s for s in due if now - s <= grace]
    latest = live[-1] if live else None
    for s in due:
        if now - s > grace:
            rows.append(PlannedRow(s, "nudge", "skipped", "missed: worker was not running"))
        elif s != latest:
            rows.append(PlannedRow(s, "nudge", "skipped", "superseded by a later slot"))
        elif ignored >= IGNORED_BEFORE_BACKOFF and asked is None:
            rows.append(PlannedRow(s, "backoff", "pending"))
            factor, seq, asked = BACKOFF_FACTOR, 1, now
        elif factor > 1 and seq % factor != 0:
            rows.append(PlannedRow(s, "nudge", "skipped", "backoff: every other slot"))
            seq += 1
        else:
            rows.append(PlannedRow(s, "nudge", "pending"))
            seq += 1
    return SlotPlan(rows=rows, state=PlanState(next_due_at=cursor, frequency_factor=factor, slot_seq=seq,
                                               ignored_streak=ignored, backoff_asked_at=asked))


def count_ignored(sent_times: list[datetime], *, since: datetime | None) -> int:
    """How many reminders in a row went unanswered: those sent after the last response."""
    return sum(1 for t in sent_times if since is None or t > since)


# ---------------------------------------------------------------------------- sending now


@dataclass(frozen=True, slots=True)
class UserState:
    """What decides whether a message may go out now."""

    active: bool
    crisis_paused: bool
    last_message_at: datetime | None
    conversation_expires_at: datetime | None
    tz: ZoneInfo
    reminders_enabled: bool
    paused_until: datetime | None
    quiet_start: time
    quiet_end: time
    chosen_time: time | None


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # send | postpone | skip
    until: datetime | None = None
    reason: str | None = None


SEND = Decision("send")


def decide(kind: str, *, due_at: datetime, user: UserState, now: datetime, grace: timedelta) -> Decision:
    """Whether a due outbox row goes out now, waits (``until``), or is skipped (``reason``).

    Order matters: a person who left or is in crisis gets nothing; a message the worker missed
    by more than ``grace`` is skipped; otherwise it waits for a conversation to end, for an hour
    after their last message, and for quiet hours to end. Quiet hours do not hold a nudge at a
    time the person chose themselves inside them (they asked for 23:00; 23:00 it is).
    """
    if not user.active:
        return Decision("skip", reason="unfollowed")
    if user.crisis_paused:
        return Decision("skip", reason="crisis pause")
    if kind in ("nudge", "backoff") and not user.reminders_enabled:
        return Decision("skip", reason="reminders off")
    if user.paused_until is not None and user.paused_until > now:
        if kind == "followup":
            return Decision("postpone", until=user.paused_until)
        return Decision("skip", reason="reminders paused")
    if now - due_at > grace:
        return Decision("skip", reason="missed: worker was not running")
    if user.conversation_expires_at is not None and user.conversation_expires_at > now:
        return Decision("postpone", until=min(now + CONVERSATION_RECHECK, user.conversation_expires_at))
    if user.last_message_at is not None and now - user.last_message_at < RECENT_MESSAGE_QUIET:
        return Decision("postpone", until=user.last_message_at + RECENT_MESSAGE_QUIET)
    local = now.astimezone(user.tz).time()
    if in_quiet_hours(local, user.quiet_start, user.quiet_end):
        chosen_in_quiet = (kind == "nudge" and user.chosen_time is not None
                           and in_quiet_hours(user.chosen_time, user.quiet_start, user.quiet_end))
        if not chosen_in_quiet:
            return Decision("postpone", until=quiet_end_after(now, user.tz, user.quiet_end))
    return SEND
