"""Tables for the web chat (migration 0004): the cookie-signing secret and messages waiting for a visitor.

The web chat keeps the visible transcript in the visitor's browser, not here. What the server
holds is only what it must: a secret shared by every web process, and replies pushed while the
visitor was away (reminders), kept until the page picks them up.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, BigId


class WebSecret(Base):
    """A named secret generated once and shared by every process (e.g. the cookie-signing key)."""

    __tablename__ = "web_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]


class WebPendingMessage(Base):
    """A reply pushed to a web visitor (a reminder), waiting until their page fetches and acknowledges it.

    ``dedupe_key`` (the delivery's idempotency key and the reply's position) makes a retried send a no-op."""

    __tablename__ = "web_pending_messages"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_web_pending_dedupe"),
        Index("ix_web_pending_user_id", "user_id", "id"),
        Index("ix_web_pending_created", "created_at"),
        # SQLite: ids never handed out twice, even after the table empties (pages keep a cursor).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    reply: Mapped[dict[str, Any]] = mapped_column(JSON)
