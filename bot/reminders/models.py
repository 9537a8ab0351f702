"""Reminder tables (migration 0002): what each person chose, the outbox of due messages, and
which nudges they have already seen.

Everything the scheduler needs lives here, so a restarted worker (or a second one) picks up
exactly where the last one stopped; APScheduler only ticks.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, BigId

DEFAULT_QUIET_START = "22:00"
DEFAULT_QUIET_END = "07:00"


class ReminderPrefs(Base):
    """One row per person who has ever chosen reminders. No row means no reminders."""

    __tablename__ = "reminder_prefs"
    __table_args__ = (Index("ix_reminder_prefs_next_due", "enabled", "next_due_at"),)

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    days: Mapped[str] = mapped_column(String(32))  # "mon,tue,wed,thu,fri"
    time_of_day: Mapped[str] = mapped_column(String(5))  # "08:00", in the user's timezone
    preset: Mapped[str | None] = mapped_column(String(32), nullable=True)
    quiet_start: Mapped[str] = mapped_column(String(5), default=DEFAULT_QUIET_START)
    quiet_end: Mapped[str] = mapped_column(String(5), default=DEFAULT_QUIET_END)
    paused_until: Mapped[datetime | None] = mapped_column(nullable=True)
    # The next scheduled slot (UTC); the planner materialises it into the outbox when it falls due.
    next_due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Back-off: 1 = every chosen slot, 2 = every other slot. ``slot_seq`` counts slots since the
    # factor last changed; a slot is sent when slot_seq % frequency_factor == 0.
    frequency_factor: Mapped[int] = mapped_column(Integer, default=1)
    slot_seq: Mapped[int] = mapped_column(Integer, default=0)
    ignored_streak: Mapped[int] = mapped_column(Integer, default=0)
    streak_reset_at: Mapped[datetime | None] = mapped_column(nullable=True)
    backoff_asked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReminderOutbox(Base):
    """One message the bot will send on its own: a scheduled nudge, a one-time follow-up a flow
    asked for, or the single back-off question.

    ``id`` is a UUID: it is the idempotency key of every send attempt (LINE's X-Line-Retry-Key)
    and the ``outbox_id`` in the answer buttons. ``slot_key`` is unique per user, so a slot can
    never be planned twice, whichever worker plans it.

    pending ──claim──▶ sending ──▶ sent
       ▲  │                 │ retryable error (backoff) ──▶ pending
       │  └─ postponed      └─ final error / attempts used ──▶ failed
       └──────────── (due_at moves later)      skipped (with reason) from pending
    """

    __tablename__ = "reminder_outbox"
    __table_args__ = (
        UniqueConstraint("user_id", "slot_key", name="uq_reminder_outbox_slot"),
        Index("ix_reminder_outbox_status_due", "status", "due_at"),
        Index("ix_reminder_outbox_user_status", "user_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))  # nudge | followup | backoff
    slot_key: Mapped[str] = mapped_column(String(64))
    slot_at: Mapped[datetime]  # when it was meant for
    due_at: Mapped[datetime]  # when to try next (postponements and retries move it)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    nudge_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(96), nullable=True)
    flow: Mapped[str | None] = mapped_column(String(64), nullable=True)
    values: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    responded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    answer: Mapped[str | None] = mapped_column(String(12), nullable=True)
    created_at: Mapped[datetime]


class NudgeHistory(Base):
    """Nudges a person has been sent, by theme and round: a nudge is not repeated until every
    nudge of its theme has been sent in the current round."""

    __tablename__ = "nudge_history"
    __table_args__ = (Index("ix_nudge_history_user_theme", "user_id", "theme"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    nudge_id: Mapped[str] = mapped_column(String(64))
    theme: Mapped[str] = mapped_column(String(32))
    round: Mapped[int] = mapped_column(Integer, default=1)
    at: Mapped[datetime]
