"""Tables. One ``Base.metadata`` for every domain; each domain's tables arrive by its own migration."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

_UTC = timezone.utc

# SQLite has no BIGINT autoincrement; keep ids INTEGER there, BIGINT elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes on every backend (SQLite stores naive UTC; we re-attach UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        tz = value.tzinfo
        if tz is None:
            raise ValueError("naive datetime given to the store; times must be timezone-aware")
        if tz is not _UTC:
            value = value.astimezone(_UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=_UTC)
        return value.astimezone(_UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


# ---- core (migration 0001) -------------------------------------------------


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id", name="uq_users_platform_user"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))
    consent_store_text: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    crisis_paused_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    last_message_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Platform routing details (e.g. Slack team id, DM channel id); never message text.
    platform_meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Conversation(Base):
    """Where a user is in a flow. No row means idle."""

    __tablename__ = "conversations"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    flow: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(64))
    vars: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class CheckIn(Base):
    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    energy: Mapped[int | None] = mapped_column(Integer, nullable=True)
    boundaries: Mapped[int | None] = mapped_column(Integer, nullable=True)
    client_respect: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Only kept when the user consented to keeping their words.
    reflection: Mapped[str | None] = mapped_column(Text, nullable=True)


class SignalRecord(Base):
    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    # Only kept when the user consented to keeping their words.
    evidence: Mapped[str | None] = mapped_column(Text, nullable=True)


class StoredMessage(Base):
    """Message text, kept only with consent and only for MESSAGE_RETENTION_DAYS."""

    __tablename__ = "stored_messages"
    __table_args__ = (Index("ix_stored_messages_at", "at"),
                      Index("ix_stored_messages_user_platform_id", "user_id", "platform_message_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    direction: Mapped[str] = mapped_column(String(8))  # "in" | "out"
    text: Mapped[str] = mapped_column(Text)
    # The platform's id of the message (migration 0006), so an unsend on LINE deletes it here too.
    platform_message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class InboxEvent(Base):
    """A platform event stored before the webhook is acknowledged, processed afterwards.

    ``(platform, event_id)`` is unique, which is what makes a redelivered event a no-op.
    """

    __tablename__ = "inbox_events"
    __table_args__ = (
        UniqueConstraint("platform", "event_id", name="uq_inbox_platform_event"),
        Index("ix_inbox_status_id", "status", "id"),
        Index("ix_inbox_user_status", "user_key", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128))
    user_key: Mapped[str] = mapped_column(String(160))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending → sending (state saved, replies kept below) → done | failed | ignored | dead
    # (dead: retried until retry_until without success; replayed by ``bansou inbox retry``)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    replies: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    received_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # When a delivery that keeps failing stops being retried (NULL: received_at + the horizon);
    # past it the row is ``dead`` until ``bansou inbox retry`` (migration 0006).
    retry_until: Mapped[datetime | None] = mapped_column(nullable=True)


class NotifiedGroup(Base):
    """Groups and rooms already told that bansou works one-to-one (told at most once)."""

    __tablename__ = "notified_groups"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    at: Mapped[datetime]


class ReadinessProbe(Base):
    """One row ``GET /readyz`` rewrites to prove the database takes writes (migration 0006)."""

    __tablename__ = "readiness_probe"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    checked_at: Mapped[datetime]


# ---- reminders (migration 0002, owned by the reminders work) ----------------
# ---- slack (migration 0003, owned by the Slack work) -----------------------
# ---- operations (migration 0004) --------------------------------------------
# Domain modules add their models by importing ``Base`` from here; ``bot.store.all_models``
# imports every module so Alembic and ``create_all`` see the whole schema.
