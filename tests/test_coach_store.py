"""The coach's per-message path written with Core statements: what it saves, and that a failure
part-way through a turn saves nothing of it."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select

from bot.engine import ConvoState
from bot.store import repo
from bot.store.models import Conversation, SignalRecord, User
from bot.types import Inbound, UserKey

ME = UserKey("cli", "core-path")
OVERWORK = "I answered client emails until 2am again and worked all weekend"


async def say(rt, text, key=ME):
    return await rt.coach.handle(Inbound(user=key, kind="text", text=text, received_at=rt.clock()))


async def user_and_convo(rt, key=ME):
    async with rt.db.session() as s:
        user = (await s.execute(select(User).where(User.platform == key.platform,
                                                   User.platform_user_id == key.user_id))).scalar_one_or_none()
        convo = await s.get(Conversation, user.id) if user is not None else None
        return user, convo


async def count(rt, model) -> int:
    async with rt.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


# ------------------------------------------------------------------------------------------ the store


async def test_a_turn_saves_the_user_the_conversation_and_signals(runtime, clock):
    out = await say(runtime, "hello")
    user, convo = await user_and_convo(runtime)
    assert user is not None and user.last_message_at == clock.now
    assert convo is not None and f"{convo.flow}:{convo.state}" == out.state
    clock.advance(minutes=5)
    out = await say(runtime, out.replies[-1].choices[0].value if out.replies[-1].choices else "1")
    user, convo = await user_and_convo(runtime)
    assert user.last_message_at == clock.now, "the Core UPDATE of the user row was committed"
    assert f"{convo.flow}:{convo.state}" == out.state and convo.updated_at == clock.now
    before = await count(runtime, SignalRecord)
    out = await say(runtime, OVERWORK)
    assert out.signals and await count(runtime, SignalRecord) == before + len(out.signals)


async def test_load_user_and_convo_reads_both_in_one_go_and_reuses_the_callers_instance(runtime, clock):
    await say(runtime, "hello")
    async with runtime.db.session() as s:
        mine = await repo.get_user(s, ME)
        saved = mine.language
        other = "ja" if saved == "en" else "en"
        mine.language = other  # not flushed: an ORM query would hand back this instance as it is
        user, convo, exists = await repo.load_user_and_convo(s, ME)
        assert user is mine and user.language == other
        assert exists and convo is not None and convo.flow
    async with runtime.db.session() as s:
        user, convo, exists = await repo.load_user_and_convo(s, ME)
        assert inspect(user).persistent and not inspect(user).modified
        assert user.language == saved, "the change above was never committed"
        assert await repo.load_user_and_convo(s, UserKey("cli", "nobody")) == (None, None, False)


async def test_update_user_writes_at_once_or_with_the_orm_when_other_changes_wait(runtime, clock):
    await say(runtime, "hello")
    later = clock.now + timedelta(hours=1)
    async with runtime.db.session() as s:
        user, _, _ = await repo.load_user_and_convo(s, ME)
        await repo.update_user(s, user, {"last_message_at": later})
        assert user.last_message_at == later and not inspect(user).modified, "saved, nothing left pending"
        await s.commit()
    user, _ = await user_and_convo(runtime)
    assert user.last_message_at == later

    async with runtime.db.session() as s:
        user, _, _ = await repo.load_user_and_convo(s, ME)
        other = "ja" if user.language == "en" else "en"
        user.language = other  # e.g. an effect handler's change, flushed later
        await repo.update_user(s, user, {"last_message_at": later + timedelta(hours=1), "active": False})
        assert inspect(user).modified
        await s.flush()
        await s.commit()
    user, _ = await user_and_convo(runtime)
    assert (user.language, user.last_message_at, user.active) == (other, later + timedelta(hours=1), False)


async def test_save_convo_inserts_updates_and_deletes(runtime, clock):
    await say(runtime, "hello")
    user, _ = await user_and_convo(runtime)
    state = ConvoState(flow="checkin", state="energy", vars={"a": 1, "b": "二"},
                       expires_at=clock.now + timedelta(hours=1))
    async with runtime.db.session() as s:
        await repo.save_convo(s, user.id, None, now=clock.now)  # looks the row up, deletes it
        assert await repo.load_convo(s, user.id) is None
        await repo.save_convo(s, user.id, state, now=clock.now, exists=False)
        await s.commit()
    async with runtime.db.session() as s:
        assert await repo.load_convo(s, user.id) == state
        moved = ConvoState(flow="checkin", state="boundaries", vars={"a": 2}, expires_at=state.expires_at)
        await repo.save_convo(s, user.id, moved, now=clock.now, exists=True)
        await s.commit()
        assert await repo.load_convo(s, user.id) == moved
        await repo.save_convo(s, user.id, state, now=clock.now)  # unknown: looked up, then updated
        await s.commit()
        assert await repo.load_convo(s, user.id) == state
        await repo.save_convo(s, user.id, None, now=clock.now, exists=True)
        await s.commit()
        assert await repo.load_convo(s, user.id) is None


async def test_a_failure_after_the_statements_ran_saves_nothing_of_that_turn(runtime, clock):
    out = await say(runtime, "hello")
    user_before, convo_before = await user_and_convo(runtime)
    signals_before = await count(runtime, SignalRecord)

    def crash(_outcome):
        raise RuntimeError("process died mid-turn")

    runtime.coach.listeners.append(crash)  # runs after every write of the turn, before the commit
    clock.advance(minutes=3)
    with pytest.raises(RuntimeError):
        await say(runtime, OVERWORK)
    runtime.coach.listeners.remove(crash)
    user_after, convo_after = await user_and_convo(runtime)
    assert user_after.last_message_at == user_before.last_message_at
    assert (convo_after.state, convo_after.vars, convo_after.updated_at) == (
        convo_before.state, convo_before.vars, convo_before.updated_at)
    assert await count(runtime, SignalRecord) == signals_before
    again = await say(runtime, OVERWORK)
    assert again.signals, "the turn can simply be taken again"
    assert out.state
