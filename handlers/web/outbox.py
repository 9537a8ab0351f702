"""Messages pushed to web visitors (reminders): kept until the page fetches and acknowledges them.

A browser cannot be pushed to while it is closed, so the web ``Sender`` stores each reply in
``web_pending_messages``; the page polls ``GET /api/messages?after=N`` and, by asking for what comes
after N, acknowledges (and deletes) everything up to N. Unfetched messages lapse after the
retention period, like kept message text.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import Delivery, DeliveryError, reply_to_json
from bot.store import repo
from bot.store.db import Database
from bot.store.web_models import WebPendingMessage
from bot.types import Reply

log = logging.getLogger("bansou.web")
PLATFORM = "web"
FETCH_LIMIT = 50


class WebSender:
    """The web chat's ``Sender``: queues replies for the visitor's page to pick up."""

    platform = PLATFORM

    def __init__(self, db: Database, *, clock):
        self.db = db
        self.clock = clock

    async def send(self, delivery: Delivery, replies: Sequence[Reply]) -> None:
        if delivery.user.platform != PLATFORM:
            raise DeliveryError(f"web sender asked to send to {delivery.user.platform}", retryable=False)
        if self.db.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        now = self.clock()
        async with self.db.session() as session:
            user = await repo.get_user(session, delivery.user)
            if user is None:
                raise DeliveryError("no such web visitor (deleted?)", retryable=False, status=404)
            for index, reply in enumerate(replies):
                if not isinstance(reply, Reply):  # a typed item the web chat has no place for
                    continue
                await session.execute(
                    insert(WebPendingMessage)
                    .values(user_id=user.id, dedupe_key=f"{delivery.idempotency_key}:{index}"[:128],
                            created_at=now, reply=reply_to_json(reply))
                    .on_conflict_do_nothing(index_elements=["dedupe_key"]))
            await session.commit()
        log.info("queued for web visitor", extra={"platform": PLATFORM, "count": len(replies)})


async def fetch_pending(session: AsyncSession, user_id: int, *, after: int) -> list[dict[str, Any]]:
    """Acknowledge (delete) this user's messages up to ``after``; return the ones after it, oldest first."""
    if after > 0:
        await session.execute(delete(WebPendingMessage).where(WebPendingMessage.user_id == user_id,
                                                              WebPendingMessage.id <= after))
    rows = (await session.execute(
        select(WebPendingMessage).where(WebPendingMessage.user_id == user_id, WebPendingMessage.id > after)
        .order_by(WebPendingMessage.id).limit(FETCH_LIMIT))).scalars()
    return [{"id": r.id, "at": r.created_at.isoformat(), "reply": r.reply} for r in rows]


async def purge_unfetched(session: AsyncSession, *, now: datetime, retention_days: int) -> int:
    result = await session.execute(delete(WebPendingMessage).where(
        WebPendingMessage.created_at < now - timedelta(days=retention_days)))
    return result.rowcount or 0


IDLE_VISITOR_DAYS = 7


async def purge_idle_visitors(session: AsyncSession, *, now: datetime, idle_days: int = IDLE_VISITOR_DAYS) -> int:
    """Delete web visitors who never checked in or chose reminders and have not been seen for
    ``idle_days`` (every cookie-less request can make one; they hold nothing worth keeping)."""
    from sqlalchemy import exists, func

    from bot.reminders.models import ReminderPrefs
    from bot.store.models import CheckIn, User

    cutoff = now - timedelta(days=idle_days)
    idle = select(User.id).where(
        User.platform == PLATFORM, func.coalesce(User.last_message_at, User.created_at) < cutoff,
        ~exists().where(CheckIn.user_id == User.id), ~exists().where(ReminderPrefs.user_id == User.id))
    ids = list((await session.execute(idle)).scalars())
    gone = 0
    for start in range(0, len(ids), 500):
        user_ids = ids[start:start + 500]
        result = await session.execute(delete(User).where(User.id.in_(user_ids)))
        gone += result.rowcount or 0
    return gone


async def purge_job(runtime) -> int:
    """Periodic housekeeping: drop pushed messages nobody fetched within the retention period."""
    async with runtime.db.session() as session:
        gone = await purge_unfetched(session, now=runtime.clock(),
                                     retention_days=runtime.settings.message_retention_days)
        await session.commit()
    if gone:
        log.info("purged unfetched web messages", extra={"count": gone})
    return gone


async def idle_visitor_job(runtime) -> int:
    """Periodic housekeeping: delete idle anonymous visitors (``purge_idle_visitors``)."""
    async with runtime.db.session() as session:
        gone = await purge_idle_visitors(session, now=runtime.clock())
        await session.commit()
    if gone:
        log.info("purged idle web visitors", extra={"count": gone})
    return gone
