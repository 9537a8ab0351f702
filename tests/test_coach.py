"""The coach with a real database: what is kept, what is not, and that it survives a restart."""
from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from bot.runtime import build_runtime
from bot.store import repo
from bot.store.models import CheckIn, Conversation, SignalRecord, StoredMessage, User
from bot.types import Inbound, UserKey

ME = UserKey("cli", "alice")


async def say(rt, text, key=ME):
    return await rt.coach.handle(Inbound(user=key, kind="text", text=text, received_at=rt.clock()))


async def tap(rt, outcome, label, key=ME):
    for r in outcome.replies:
        for c in r.choices:
            if c.label == label:
                return await rt.coach.handle(Inbound(user=key, kind="choice", choice=c.value, received_at=rt.clock()))
    raise AssertionError(f"no button {label!r} in {[c.label for r in outcome.replies for c in r.choices]}")


async def onboard(rt, *, keep_words: bool, lang="en"):
    out = await say(rt, "hello")
    out = await tap(rt, out, "English" if lang == "en" else "日本語")
    out = await tap(rt, out, {("en", True): "Yes, keep them", ("en", False): "Scores only",
                              ("ja", True): "保存していい", ("ja", False): "点数だけ"}[(lang, keep_words)])
    return await tap(rt, out, "No reminders" if lang == "en" else "リマインドなし")


async def checkin(rt, reflection: str):
    await say(rt, "check-in")
    for score in ("2", "3", "4"):
        await say(rt, score)
    await say(rt, reflection)
    return await say(rt, "ok")


async def count(rt, model) -> int:
    async with rt.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_conversation_and_answers_survive_a_restart(settings, clock):
    rt = await build_runtime(settings, clock=clock, migrate=False)
    await onboard(rt, keep_words=True)
    out = await say(rt, "check-in")
    out = await say(rt, "2")
    assert out.state == "checkin:boundaries"
    await rt.close()

    rt = await build_runtime(settings, clock=clock, migrate=False)  # a new process, same database
    out = await say(rt, "4")
    assert out.state == "checkin:client_respect"
    await say(rt, "5")
    await say(rt, "A calm week")
    await say(rt, "ok")
    async with rt.db.session() as s:
        row = (await s.execute(select(CheckIn))).scalar_one()
    assert (row.energy, row.boundaries, row.client_respect, row.reflection) == (2, 4, 5, "A calm week")
    await rt.close()


async def test_without_consent_no_words_are_kept(runtime):
    await onboard(runtime, keep_words=False)
    await checkin(runtime, "I can't say no to anyone")
    async with runtime.db.session() as s:
        row = (await s.execute(select(CheckIn))).scalar_one()
        sig = (await s.execute(select(SignalRecord))).scalars().all()
    assert row.reflection is None and row.energy == 2
    assert sig and all(s.evidence is None for s in sig)
    assert {s.kind for s in sig} == {"people_pleasing"}
    assert await count(runtime, StoredMessage) == 0


async def test_with_consent_words_and_evidence_are_kept(runtime):
    await onboard(runtime, keep_words=True)
    await checkin(runtime, "I can't say no to anyone")
    async with runtime.db.session() as s:
        row = (await s.execute(select(CheckIn))).scalar_one()
        sig = (await s.execute(select(SignalRecord))).scalars().all()
    assert row.reflection == "I can't say no to anyone"
    assert [s.evidence for s in sig] == ["can't say no"]
    assert await count(runtime, StoredMessage) > 0


async def test_crisis_pauses_until_the_user_leaves_care(runtime):
    await onboard(runtime, keep_words=False)
    out = await say(runtime, "I want to disappear")
    assert out.state == "crisis_care:asked" and "crisis.ask.question" in [r.message_id for r in out.replies]
    async with runtime.db.session() as s:
        user = await repo.get_user(s, ME)
        assert user.crisis_paused_at == runtime.clock()
    out = await say(runtime, "resume")  # asks how they are before anything resumes
    assert out.state == "crisis_care:leaving"
    async with runtime.db.session() as s:
        assert (await repo.get_user(s, ME)).crisis_paused_at is not None
    await say(runtime, "I'm ok")
    out = await say(runtime, "Send nothing for now")
    assert out.state == "idle"
    async with runtime.db.session() as s:
        assert (await repo.get_user(s, ME)).crisis_paused_at is None


async def test_export_holds_everything_and_delete_removes_everything(runtime):
    await onboard(runtime, keep_words=True)
    await checkin(runtime, "I did the client's work for them again")
    out = await say(runtime, "export my data")
    exported = json.loads(next(r.text for r in out.replies if r.message_id == "privacy.export_data"))
    assert exported["user"]["platform_user_id"] == "alice"
    assert exported["checkins"][0]["energy"] == 2
    assert exported["signals"][0]["kind"] == "over_helping"

    out = await say(runtime, "delete my data")
    assert out.state == "privacy:confirm_delete"
    out = await tap(runtime, out, "Yes, delete all")
    assert [r.message_id for r in out.replies] == ["privacy.deleted"]
    for model in (User, CheckIn, SignalRecord, StoredMessage, Conversation):
        assert await count(runtime, model) == 0, model.__tablename__
    # writing again starts from the beginning
    out = await say(runtime, "hello")
    assert out.state == "onboarding:language"


async def test_one_users_messages_are_handled_one_at_a_time(runtime):
    await onboard(runtime, keep_words=False)
    await say(runtime, "check-in")
    # Three answers arrive together; each must see the state the previous one left.
    outs = await asyncio.gather(*(say(runtime, s) for s in ("1", "2", "3")))
    assert sorted(o.state for o in outs) == ["checkin:boundaries", "checkin:client_respect", "checkin:reflection"]
    async with runtime.db.session() as s:
        convo = await repo.load_convo(s, (await repo.get_user(s, ME)).id)
    assert convo.state == "reflection"
    assert sorted([convo.vars["energy"], convo.vars["boundaries"], convo.vars["client_respect"]]) == [1, 2, 3]


async def test_language_of_a_new_user_follows_what_they_write(runtime):
    out = await say(runtime, "hello, is this the coaching bot?", key=UserKey("cli", "bob"))
    assert out.language == "en"
    assert out.replies[0].text.startswith("Hi, I'm bansou")
    out = await say(runtime, "こんにちは", key=UserKey("cli", "hanako"))
    assert out.language == "ja"
