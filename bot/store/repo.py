"""Queries over the core tables. Each takes the session it runs in; callers own transactions.

The per-message path (``load_user_and_convo``, ``save_convo``, ``update_user``, ``record_signals``,
``store_message``) uses Core statements built once at import: no unit-of-work flush, no ORM
loading, and a memoised cache key, so a turn costs a few statements and little Python.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from bot.engine import ConvoState
from bot.store.models import Base, CheckIn, Conversation, SignalRecord, StoredMessage, User
from bot.types import Signal, UserKey

_users = User.__table__
_convos = Conversation.__table__
_USER_COLUMNS = [c.key for c in _users.columns]
_LOAD_USER_AND_CONVO = (
    select(*_users.columns, _convos.c.user_id.label("convo_user_id"), _convos.c.flow, _convos.c.state,
           _convos.c.vars, _convos.c.expires_at)
    .select_from(_users.outerjoin(_convos, _convos.c.user_id == _users.c.id))
    .where(_users.c.platform == bindparam("platform"), _users.c.platform_user_id == bindparam("platform_user_id")))
_LOAD_CONVO = select(_convos.c.flow, _convos.c.state, _convos.c.vars, _convos.c.expires_at).where(
    _convos.c.user_id == bindparam("uid"))
_UPDATE_CONVO = _convos.update().where(_convos.c.user_id == bindparam("uid")).values(
    flow=bindparam("flow"), state=bindparam("state"), vars=bindparam("vars"), updated_at=bindparam("updated_at"),
    expires_at=bindparam("expires_at"))
_INSERT_CONVO = _convos.insert()
_DELETE_CONVO = _convos.delete().where(_convos.c.user_id == bindparam("uid"))
_INSERT_SIGNALS = SignalRecord.__table__.insert()
_INSERT_MESSAGE = StoredMessage.__table__.insert()


@cache
def _user_update(columns: frozenset[str]):
    """``UPDATE users SET <columns> WHERE id = :uid``, built once per set of columns."""
    return _users.update().where(_users.c.id == bindparam("uid")).values(
        {name: bindparam(name) for name in sorted(columns)})


def _attach_user(session: AsyncSession, values: dict[str, Any]) -> User:
    """The session's ``User`` for a row read with Core: the instance already in the session if the
    caller loaded it (its unflushed changes win, as with an ORM query), else a new persistent one."""
    sync = session.sync_session
    known = sync.identity_map.get((User, (values["id"],), None))
    if known is not None:
        return known
    user = User(**values)
    make_transient_to_detached(user)  # as if loaded: no pending changes, nothing to INSERT
    sync.add(user)
    return user


def _convo_state(row) -> ConvoState:
    """A saved conversation row (its flow, state, vars, expires_at columns) as the engine's state."""
    return ConvoState(flow=row.flow, state=row.state, vars=dict(row.vars or {}), expires_at=row.expires_at)


async def load_user_and_convo(session: AsyncSession, key: UserKey) -> tuple[User | None, ConvoState | None, bool]:
    """The user and their saved conversation in one statement: (user or None, state or None, whether a
    conversation row exists)."""
    row = (await session.execute(_LOAD_USER_AND_CONVO, {"platform": key.platform,
                                                        "platform_user_id": key.user_id})).first()
    if row is None:
        return None, None, False
    user = _attach_user(session, {name: row[i] for i, name in enumerate(_USER_COLUMNS)})
    if row.convo_user_id is None:
        return user, None, False
    return user, _convo_state(row), True


async def get_user(session: AsyncSession, key: UserKey) -> User | None:
    return (await session.execute(
        select(User).where(User.platform == key.platform, User.platform_user_id == key.user_id)
    )).scalar_one_or_none()


async def create_user(session: AsyncSession, key: UserKey, *, language: str, timezone: str, now: datetime) -> User:
    """A new user row with the given defaults (flushed, so it has its id)."""
    user = User(platform=key.platform, platform_user_id=key.user_id, language=language, timezone=timezone,
                consent_store_text=False, active=True, created_at=now, platform_meta={})
    session.add(user)
    await session.flush()
    return user


async def get_or_create_user(session: AsyncSession, key: UserKey, *, language: str, timezone: str,
                             now: datetime) -> tuple[User, bool]:
    """The user row for ``key``, created with the given defaults when new; (user, created)."""
    user = await get_user(session, key)
    if user is not None:
        return user, False
    return await create_user(session, key, language=language, timezone=timezone, now=now), True


async def update_user(session: AsyncSession, user: User, values: dict[str, Any]) -> None:
    """Set columns of a loaded user. With no other change pending on it, one Core UPDATE (and the
    instance marked as saved); otherwise through the ORM, so the one flush writes every change in order."""
    if not values:
        return
    state = inspect(user)
    if state.modified or not state.persistent:
        for name, value in values.items():
            setattr(user, name, value)
        return
    await session.execute(_user_update(frozenset(values)), {"uid": user.id, **values})
    for name, value in values.items():
        set_committed_value(user, name, value)


async def load_convo(session: AsyncSession, user_id: int) -> ConvoState | None:
    row = (await session.execute(_LOAD_CONVO, {"uid": user_id})).first()
    return None if row is None else _convo_state(row)


async def save_convo(session: AsyncSession, user_id: int, convo: ConvoState | None, *, now: datetime,
                     exists: bool | None = None) -> None:
    """Save (or, for None, delete) the user's conversation. ``exists`` says whether a row is there,
    as read in this transaction under the user's lock; None looks it up."""
    if exists is None:
        exists = (await session.execute(_LOAD_CONVO, {"uid": user_id})).first() is not None
    if convo is None:
        if exists:
            await session.execute(_DELETE_CONVO, {"uid": user_id})
        return
    values = {"flow": convo.flow, "state": convo.state, "vars": dict(convo.vars), "updated_at": now,
              "expires_at": convo.expires_at}
    if exists:
        await session.execute(_UPDATE_CONVO, {"uid": user_id, **values})
    else:
        await session.execute(_INSERT_CONVO, {"user_id": user_id, **values})


async def record_signals(session: AsyncSession, user: User, signals: list[Signal], *, now: datetime) -> None:
    if not signals:
        return
    keep = user.consent_store_text
    await session.execute(_INSERT_SIGNALS, [
        {"user_id": user.id, "at": now, "kind": s.kind, "score": s.score, "evidence": s.evidence if keep else None}
        for s in signals])


async def save_checkin(session: AsyncSession, user: User, *, now: datetime, energy: int | None,
                       boundaries: int | None, client_respect: int | None, reflection: str | None) -> CheckIn:
    row = CheckIn(user_id=user.id, at=now, energy=energy, boundaries=boundaries, client_respect=client_respect,
                  reflection=reflection if user.consent_store_text else None)
    session.add(row)
    return row


async def store_message(session: AsyncSession, user: User, *, text: str, direction: str, now: datetime,
                        platform_message_id: str | None = None) -> None:
    if user.consent_store_text and text:
        await session.execute(_INSERT_MESSAGE, {"user_id": user.id, "at": now, "direction": direction, "text": text,
                                                "platform_message_id": platform_message_id})


async def delete_stored_message(session: AsyncSession, user_id: int, platform_message_id: str) -> int:
    """Forget a kept message the user took back on their platform (LINE's unsend); how many went."""
    result = await session.execute(delete(StoredMessage).where(
        StoredMessage.user_id == user_id, StoredMessage.platform_message_id == platform_message_id))
    return result.rowcount or 0


async def last_checkin_scores(session: AsyncSession, user_id: int) -> dict[str, int | None] | None:
    """The scores of the user's latest check-in (no words), or None."""
    row = (await session.execute(
        select(CheckIn.energy, CheckIn.boundaries, CheckIn.client_respect)
        .where(CheckIn.user_id == user_id).order_by(CheckIn.at.desc()).limit(1))).first()
    return None if row is None else {"energy": row.energy, "boundaries": row.boundaries,
                                     "client_respect": row.client_respect}


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
        InboxEvent.status.in_(("done", "failed", "ignored", "dead"))))  # dead rows keep replies: they go too
    from bot.store.outbox_models import OutboxDelivery

    # Outgoing deliveries hold the words of replies: every one of theirs goes, sent or not.
    await session.execute(delete(OutboxDelivery).where(
        OutboxDelivery.user_key == f"{user.platform}:{user.platform_user_id}"))
    await session.delete(user)
