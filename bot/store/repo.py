"""Queries over the core tables. Each takes the session it runs in; callers own transactions."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine import ConvoState
from bot.store.models import Base, CheckIn, Conversation, SignalRecord, StoredMessage, User
from bot.types import Signal, UserKey


async def get_user(session: AsyncSession, key: UserKey) -> User | None:
    return (await session.execute(
        select(User).where(User.platform == key.platform, User.platform_user_id == key.user_id)
    )).scalar_one_or_none()


async def get_or_create_user(session: AsyncSession, key: UserKey, *, language: str, timezone: str,
                             now: datetime) -> tuple[User, bool]:
    """The user row for ``key``, created with the given defaults when new; (user, created)."""
    user = await get_user(session, key)
    if user is not None:
        return user, False
    user = User(platform=key.platform, platform_user_id=key.user_id, language=language, timezone=timezone,
                consent_store_text=False, active=True, created_at=now, platform_meta={})
    session.add(user)
    await session.flush()
    return user, True


async def load_convo(session: AsyncSession, user_id: int) -> ConvoState | None:
    row = await session.get(Conversation, user_id)
    if row is None:
        return None
    return ConvoState(flow=row.flow, state=row.state, vars=dict(row.vars or {}), expires_at=row.expires_at)


async def save_convo(session: AsyncSession, user_id: int, convo: ConvoState | None, *, now: datetime) -> None:
    row = await session.get(Conversation, user_id)
    if convo is None:
        if row is not None:
            await session.delete(row)
        return
    if row is None:
        session.add(Conversation(user_id=user_id, flow=convo.flow, state=convo.state, vars=convo.vars,
                                 updated_at=now, expires_at=convo.expires_at))
    else:
        row.flow, row.state, row.vars = convo.flow, convo.state, dict(convo.vars)
        row.updated_at, row.expires_at = now, convo.expires_at


async def record_signals(session: AsyncSession, user: User, signals: list[Signal], *, now: datetime) -> None:
    for s in signals:
        session.add(SignalRecord(user_id=user.id, at=now, kind=s.kind, score=s.score,
                                 evidence=s.evidence if user.consent_store_text else None))


async def save_checkin(session: AsyncSession, user: User, *, now: datetime, energy: int | None,
                       boundaries: int | None, client_respect: int | None, reflection: str | None) -> CheckIn:
    row = CheckIn(user_id=user.id, at=now, energy=energy, boundaries=boundaries, client_respect=client_respect,
                  reflection=reflection if user.consent_store_text else None)
    session.add(row)
    return row


async def store_message(session: AsyncSession, user: User, *, text: str, direction: str, now: datetime) -> None:
    if user.consent_store_text and text:
        session.add(StoredMessage(user_id=user.id, at=now, direction=direction, text=text))


async def checkins_since(session: AsyncSession, user_id: int, since: datetime) -> list[CheckIn]:
    return list((await session.execute(
        select(CheckIn).where(CheckIn.user_id == user_id, CheckIn.at >= since).order_by(CheckIn.at)
    )).scalars())


async def signals_since(session: AsyncSession, user_id: int, since: datetime) -> list[SignalRecord]:
    return list((await session.execute(
        select(SignalRecord).where(SignalRecord.user_id == user_id, SignalRecord.at >= since)
        .order_by(SignalRecord.at)
    )).scalars())


async def purge_stored_messages(session: AsyncSession, *, now: datetime, retention_days: int) -> int:
    """Delete kept message text older than the retention period; returns how many rows went."""
    cutoff = now - timedelta(days=retention_days)
    result = await session.execute(delete(StoredMessage).where(StoredMessage.at < cutoff))
    return result.rowcount or 0


def _row_dict(row: Any) -> dict[str, Any]:
    out = {}
    for col in row.__table__.columns:
        value = getattr(row, col.key)
        out[col.key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _user_tables() -> list:
    """Every mapped table with a ``user_id`` column (each domain's tables included)."""
    return [m.class_ for m in Base.registry.mappers if "user_id" in m.class_.__table__.columns]


async def export_user(session: AsyncSession, user: User) -> dict[str, Any]:
    """Everything held about the user, as plain JSON-able data."""
    data: dict[str, Any] = {"user": _row_dict(user)}
    for cls in sorted(_user_tables(), key=lambda c: c.__tablename__):
        rows = (await session.execute(select(cls).where(cls.user_id == user.id))).scalars()
        data[cls.__tablename__] = [{k: v for k, v in _row_dict(r).items() if k != "user_id"} for r in rows]
    return data


async def delete_user(session: AsyncSession, user: User) -> None:
    """Remove every row about the user (children first, so it works without FK cascades too)."""
    for cls in _user_tables():
        await session.execute(delete(cls).where(cls.user_id == user.id))
    from bot.store.models import InboxEvent

    await session.execute(delete(InboxEvent).where(
        InboxEvent.user_key == f"{user.platform}:{user.platform_user_id}",
        InboxEvent.status.in_(("done", "failed", "ignored"))))
    await session.delete(user)
