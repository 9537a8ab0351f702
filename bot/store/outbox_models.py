"""The delivery outbox tables (migration 0007): outgoing deliveries and the parts of each that went out.

* ``delivery_outbox``: one row per delivery (a reply, a reminder, a multi-part post), keyed by its
  idempotency key, claimed with a lease, retried under one policy until ``retry_until``, then ``dead``.
* ``delivery_parts``: the part ledger. A delivery that takes several requests (LINE sends five
  messages a request; Slack posts one message a request) records each request the platform
  accepted, so a retry, in this process or after a restart, sends only what is missing.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, BigId


class OutboxDelivery(Base):
    """One outgoing delivery.

    pending ──claim (lease)──▶ sending ──▶ sent
       ▲                          │ retryable error before retry_until: backoff ──▶ pending
       │                          ├─ final error ──▶ failed
       │                          └─ retryable error at retry_until ──▶ dead (``bansou inbox retry``)
       └── lease expired (the claimer died): claimable again, same key
    """

    __tablename__ = "delivery_outbox"
    __table_args__ = (
        Index("ix_delivery_outbox_status_due", "status", "due_at"),
        Index("ix_delivery_outbox_user", "user_key", "status"),
        {"sqlite_autoincrement": True},  # ids never handed out twice, even after purges
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # the idempotency key of every attempt
    kind: Mapped[str] = mapped_column(String(16))  # reply | reminder | post | ...
    user_key: Mapped[str] = mapped_column(String(160))  # "platform:user_id"
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"replies": [...], "context": {...}}
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    retry_until: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)


class DeliveryPart(Base):
    """One request of a delivery that the platform accepted (idempotency key + part number)."""

    __tablename__ = "delivery_parts"
    __table_args__ = (Index("ix_delivery_parts_at", "at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str | None] = mapped_column(String(80), nullable=True)  # e.g. Slack's channel and ts
    at: Mapped[datetime]
