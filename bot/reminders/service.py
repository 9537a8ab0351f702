"""The reminders domain inside a message's transaction: effect handlers and the interpreter.

The engine emits effects (``reminders`` op=set|off|on|pause, ``schedule_followup``,
``nudge_response``, ``crisis_pause``, ``resume``, ``deactivate``); the coach calls these
handlers with the message's session, so preference changes commit together with the
conversation state. ``delete_data`` needs nothing here: every reminder table has a ``user_id``
with ON DELETE CASCADE, and ``repo.delete_user`` removes rows of every such table.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.engine import Effect, Interpretation
from bot.reminders.models import DEFAULT_QUIET_END, DEFAULT_QUIET_START, ReminderOutbox, ReminderPrefs
from bot.reminders.parse import ALL_DAYS, WEEKEND, WORKDAYS, parse_reminder_command
from bot.reminders.planner import WEEKDAYS, Schedule, next_due, parse_hhmm, zone
from bot.store.models import User
from bot.types import Reply

log = logging.getLogger("bansou.reminders")
DEFAULT_PRESET = "weekday_morning"


def schedule_of(prefs: ReminderPrefs) -> Schedule:
    days = tuple(d for d in prefs.days.split(",") if d in WEEKDAYS)
    return Schedule(days=days, at=parse_hhmm(prefs.time_of_day), paused_until=prefs.paused_until)


def describe_schedule(content: Content, days: tuple[str, ...] | list[str], time: str, lang: str) -> str:
    """"on weekdays at 8:00" / "平日の8:00", from the reminders messages."""
    chosen = tuple(d for d in WEEKDAYS if d in set(days))
    if chosen == ALL_DAYS:
        day_text = content.text("reminders.days.every_day", lang)
    elif chosen == WORKDAYS:
        day_text = content.text("reminders.days.weekdays", lang)
    elif chosen == WEEKEND:
        day_text = content.text("reminders.days.weekends", lang)
    else:
        names = content.text("reminders.days.join", lang).join(
            content.text(f"reminders.day.{d}", lang) for d in chosen)
        day_text = content.text("reminders.days.on", lang, {"days": names})
    hh, mm = time.split(":")
    return content.text("reminders.schedule", lang, {"days": day_text, "time": f"{int(hh)}:{mm}"})


async def cancel_pending(session: AsyncSession, user_id: int, *, reason: str, kinds: tuple[str, ...] | None = None) -> None:
    """Record every pending reminder of the user (optionally only ``kinds``) as skipped, including
    those waiting in the delivery outbox for a retry (not one being sent right now)."""
    from bot.store.outbox_models import OutboxDelivery

    stmt = (update(ReminderOutbox)
            .where(ReminderOutbox.user_id == user_id, ReminderOutbox.status == "pending")
            .values(status="skipped", reason=reason, values=None)
            .execution_options(synchronize_session=False))
    if kinds is not None:
        stmt = stmt.where(ReminderOutbox.kind.in_(kinds))
    await session.execute(stmt)
    queued = select(ReminderOutbox.id).where(ReminderOutbox.user_id == user_id, ReminderOutbox.status == "sending")
    if kinds is not None:
        queued = queued.where(ReminderOutbox.kind.in_(kinds))
    withdrawn = list((await session.execute(
        update(OutboxDelivery)
        .where(OutboxDelivery.kind == "reminder", OutboxDelivery.status == "pending", OutboxDelivery.key.in_(queued))
        .values(status="failed", payload={}, error=f"withdrawn: {reason}"[:500],
                finished_at=OutboxDelivery.due_at)  # no clock here; purged with what finished then
        .returning(OutboxDelivery.key)
        .execution_options(synchronize_session=False))).scalars())
    if withdrawn:
        await session.execute(update(ReminderOutbox).where(ReminderOutbox.id.in_(withdrawn))
                              .values(status="skipped", reason=reason, values=None)
                              .execution_options(synchronize_session=False))


class Reminders:
    """Effect handlers and the free-text interpreter for reminders."""

    def __init__(self, content: Content, *, default_timezone: str):
        self.content = content
        self.default_timezone = default_timezone

    def tz_of(self, user: User):
        return zone(user.timezone, self.default_timezone)

    # -- preferences ----------------------------------------------------------------------
    async def _prefs(self, session: AsyncSession, user: User, now: datetime, *, create: bool) -> ReminderPrefs | None:
        prefs = await session.get(ReminderPrefs, user.id)
        if prefs is None and create:
            preset = self.content.presets.get(DEFAULT_PRESET) or next(iter(self.content.presets.values()), None)
            prefs = ReminderPrefs(
                user_id=user.id, enabled=True, days=",".join(preset.days if preset else WORKDAYS),
                time_of_day=preset.time if preset else "08:00", preset=preset.id if preset else None,
                quiet_start=DEFAULT_QUIET_START, quiet_end=DEFAULT_QUIET_END, frequency_factor=1, slot_seq=0,
                ignored_streak=0, created_at=now, updated_at=now)
            session.add(prefs)
        return prefs

    def _restart(self, prefs: ReminderPrefs, user: User, now: datetime) -> None:
        """Back to every chosen slot, nothing counted as ignored, next slot from now."""
        prefs.enabled = True
        prefs.frequency_factor, prefs.slot_seq, prefs.ignored_streak = 1, 0, 0
        prefs.streak_reset_at, prefs.backoff_asked_at = now, None
        prefs.next_due_at = next_due(schedule_of(prefs), self.tz_of(user), after=now)
        prefs.updated_at = now

    async def on_reminders(self, session: AsyncSession, user: User, effect: Effect, now: datetime) -> list[Reply] | None:
        args = effect.args
        op = args.get("op")
        if op == "set":
            days = [d for d in WEEKDAYS if d in set(args.get("days") or [])]
            time = str(args.get("time") or "")
            try:
                parse_hhmm(time)
            except ValueError:
                log.warning("reminder time rejected", extra={"effect": "reminders"})
                return None
            if not days:
                return None
            prefs = await self._prefs(session, user, now, create=True)
            prefs.days, prefs.time_of_day, prefs.preset = ",".join(days), time, args.get("preset")
            prefs.paused_until = None
            self._restart(prefs, user, now)
            await cancel_pending(session, user.id, reason="rescheduled", kinds=("nudge", "backoff"))
        elif op == "on":
            prefs = await self._prefs(session, user, now, create=True)
            prefs.paused_until = None
            self._restart(prefs, user, now)
        elif op == "off":
            prefs = await self._prefs(session, user, now, create=False)
            if prefs is not None:
                prefs.enabled, prefs.next_due_at, prefs.updated_at = False, None, now
            await cancel_pending(session, user.id, reason="reminders off")
        elif op == "frequency":
            per_week = args.get("per_week")
            if not isinstance(per_week, int):
                return None
            prefs = await self._prefs(session, user, now, create=True)
            days = [d for d in prefs.days.split(",") if d in WEEKDAYS] or list(WORKDAYS)
            prefs.days = ",".join(days_per_week(days, per_week))
            prefs.preset = None
            self._restart(prefs, user, now)
            await cancel_pending(session, user.id, reason="rescheduled", kinds=("nudge", "backoff"))
        elif op == "pause":
            until = args.get("until")
            if not isinstance(until, datetime) or until.tzinfo is None:
                return None
            prefs = await self._prefs(session, user, now, create=False)
            if prefs is None:
                return None
            prefs.paused_until = until
            prefs.next_due_at = next_due(schedule_of(prefs), self.tz_of(user), after=now) if prefs.enabled else None
            prefs.updated_at = now
            await cancel_pending(session, user.id, reason="reminders paused", kinds=("nudge", "backoff"))
        return None

    async def on_followup(self, session: AsyncSession, user: User, effect: Effect, now: datetime) -> list[Reply] | None:
        args = effect.args
        due_at = args.get("due_at")
        message_id = args.get("message_id")
        if not isinstance(due_at, datetime) or message_id not in self.content.messages:
            return None
        row_id = str(uuid.uuid4())
        session.add(ReminderOutbox(
            id=row_id, user_id=user.id, kind="followup", slot_key=f"followup:{row_id}", slot_at=due_at,
            due_at=due_at, status="pending", attempts=0, message_id=message_id, flow=args.get("flow"),
            values=_plain(args.get("values") or {}), created_at=now))
        return None

    async def on_nudge_response(self, session: AsyncSession, user: User, effect: Effect, now: datetime) -> list[Reply] | None:
        row = await session.get(ReminderOutbox, str(effect.args.get("outbox_id") or ""))
        if row is not None and row.user_id == user.id and row.responded_at is None:
            row.responded_at, row.answer = now, str(effect.args.get("answer"))[:12]
        prefs = await session.get(ReminderPrefs, user.id)
        if prefs is not None:
            prefs.ignored_streak, prefs.streak_reset_at, prefs.updated_at = 0, now, now
        return None

    async def on_crisis_pause(self, session: AsyncSession, user: User, effect: Effect, now: datetime) -> list[Reply] | None:
        await cancel_pending(session, user.id, reason="crisis pause")
        return None

    async def on_resume(self, session: AsyncSession, user: User, effect: Effect, now: datetime) -> list[Reply] | None:
        """After a crisis pause, or "resume reminders": on again, from now (nothing sent for the gap)."""
        prefs = await session.get(ReminderPrefs, user.id)
        if prefs is not None:
            prefs.paused_until = None
            self._restart(prefs, user, now)
        return None

    async def on_deactivate(self, session: AsyncSession, user: User, effect: Effect, now: datetime) -> list[Reply] | None:
        prefs = await session.get(ReminderPrefs, user.id)
        if prefs is not None:
            prefs.enabled, prefs.next_due_at, prefs.updated_at = False, None, now
        await cancel_pending(session, user.id, reason="unfollowed")
        return None

    async def facts(self, session: AsyncSession, user: User) -> dict[str, Any]:
        """What the engine may say about this user's reminders: on, paused, off, or none (never set)."""
        prefs = await session.get(ReminderPrefs, user.id)
        if prefs is None:
            return {"reminders": "none"}
        if not prefs.enabled:
            return {"reminders": "off"}
        return {"reminders": "paused" if prefs.paused_until is not None else "on"}

    # -- free text --------------------------------------------------------------------------
    def interpret(self, text: str, *, lang: str, now: datetime) -> Interpretation | None:
        """"毎朝8時にリマインド", "weekdays at 8am", "pause for a week" → a reminders effect."""
        command = parse_reminder_command(text)
        if command is None:
            return None
        if command.op == "pause":
            return Interpretation(effects=(Effect("reminders", {"op": "pause", "until": now + command.pause}),),
                                  message_id="reminders.confirm_pause",
                                  values={"days": max(1, round(command.pause / timedelta(days=1)))})
        return Interpretation(
            effects=(Effect("reminders", {"op": "set", "days": list(command.days), "time": command.time,
                                          "preset": None}),),
            message_id="reminders.confirm_set",
            values={"schedule": describe_schedule(self.content, command.days, command.time, lang)})


def days_per_week(current: list[str], per_week: int) -> list[str]:
    """Days for ``per_week`` reminders a week, kept among the current days where possible
    (-1: fewer than now, about half)."""
    if per_week == -1:
        per_week = max(1, len(current) // 2)
    if per_week >= 7:
        return list(WEEKDAYS)
    spread = {1: ("mon",), 2: ("mon", "thu"), 3: ("mon", "wed", "fri"), 4: ("mon", "tue", "thu", "fri"),
              5: WORKDAYS, 6: WEEKDAYS[:6]}[max(1, per_week)]
    if len(current) >= per_week:
        step = len(current) / per_week
        return [current[int(i * step)] for i in range(per_week)]
    return list(spread)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Keep only JSON-friendly scalar values a follow-up message can fill in."""
    return {str(k): v for k, v in values.items() if isinstance(v, (str, int, float, bool)) or v is None}
