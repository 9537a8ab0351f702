"""Privacy (APPI and GDPR in spirit): words are kept only with consent and only for the retention
period; "export my data" gives back everything held; "delete my data" leaves no row about the user;
operators can do both from the command line. Every check scans EVERY table in the schema, so a
table a new domain adds is covered without touching these tests."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from bot.inbox import IncomingEvent, InboxWorker, Parcel, enqueue
from bot.retention import cutoffs, purge_expired
from bot.store.all_models import metadata
from bot.types import Inbound, UserKey
from tests.procs import child_env, run_bansou

WORDS = "紫陽花の坂道で見積書を三回書き直した"
OVERWORK_EN = f"I answered client emails until 2am again and skipped lunch all week, {WORDS}"
OVERWORK_JA = f"{WORDS}。いつも深夜までクライアントの返信をしていて休めない"


# ------------------------------------------------------------------------------- conversation helpers


async def tap(runtime, key: UserKey, value: str):
    """The user taps the button whose value is ``value``."""
    return await runtime.coach.handle(Inbound(user=key, kind="choice", choice=value, received_at=runtime.clock()))


async def say(runtime, key: UserKey, text: str):
    """The user writes ``text``."""
    return await runtime.coach.handle(Inbound(user=key, kind="text", text=text, received_at=runtime.clock()))


async def onboard(runtime, key: UserKey, *, consent: bool, lang: str = "en",
                  reminders: str = "weekday_morning"):
    """Follow, pick a language, answer the consent question, choose reminders."""
    await runtime.coach.handle(Inbound(user=key, kind="follow", received_at=runtime.clock()))
    await tap(runtime, key, f"c:onboarding:language:{lang}")
    await tap(runtime, key, f"c:onboarding:consent:{'keep' if consent else 'scores_only'}")
    return await tap(runtime, key, f"c:onboarding:reminders:{reminders}")


async def checkin(runtime, key: UserKey, reflection: str):
    await tap(runtime, key, "go:checkin")
    for state, score in (("energy", 2), ("boundaries", 2), ("client_respect", 3)):
        await tap(runtime, key, f"c:checkin:{state}:{score}")
    await say(runtime, key, reflection)
    return await tap(runtime, key, "c:checkin:question:done")


async def a_full_life(runtime, key: UserKey, *, consent: bool) -> None:
    """Everything a user can leave behind: onboarding, reminders, messages, signals, a check-in."""
    await onboard(runtime, key, consent=consent)
    await say(runtime, key, OVERWORK_EN)
    runtime.clock.advance(minutes=5)
    await say(runtime, key, OVERWORK_JA)
    runtime.clock.advance(minutes=5)
    await checkin(runtime, key, f"{WORDS}. I said yes to every request again")
    runtime.clock.advance(minutes=5)


# ------------------------------------------------------------------------------------ table scans


async def all_rows(db) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table in the schema."""
    out = {}
    async with db.session() as session:
        for name, table in metadata.tables.items():
            out[name] = [dict(r._mapping) for r in (await session.execute(select(table))).all()]
    return out


def _user_columns(table) -> list[str]:
    """Columns holding our users.id: a foreign key to it, or ``user_id`` on a mapped table (plain
    tables, like Slack's installation store, use ``user_id`` for a platform's id, not ours)."""
    from bot.store.models import Base

    mapped = {m.local_table.name for m in Base.registry.mappers}
    cols = []
    for col in table.columns:
        points_at_users = any(fk.column.table.name == "users" for fk in col.foreign_keys)
        if points_at_users or (col.name == "user_id" and table.name in mapped and table.name != "users"):
            cols.append(col.name)
    return cols


def references(rows: dict[str, list[dict[str, Any]]], *, user_db_id: int | None, platform_user_id: str):
    """(table, row) pairs that point at the user: by a users.id column, or by holding their platform id."""
    found = []
    for name, table_rows in rows.items():
        cols = _user_columns(metadata.tables[name])
        for row in table_rows:
            if user_db_id is not None and any(row.get(c) == user_db_id for c in cols):
                found.append((name, row))
            elif name == "users" and row.get("id") == user_db_id:
                found.append((name, row))
            elif platform_user_id in json.dumps(row, default=str, ensure_ascii=False):
                found.append((name, row))
    return found


def holding(rows: dict[str, list[dict[str, Any]]], needle: str) -> list[tuple[str, str]]:
    """(table, column) pairs where ``needle`` appears, anywhere, in any row."""
    hits = []
    for name, table_rows in rows.items():
        for row in table_rows:
            for col, value in row.items():
                if needle in json.dumps(value, default=str, ensure_ascii=False):
                    hits.append((name, col))
    return sorted(set(hits))


async def user_row(runtime, key: UserKey):
    from bot.store import repo

    async with runtime.db.session() as session:
        return await repo.get_user(session, key)


def new_key(platform: str = "line") -> UserKey:
    return UserKey(platform, "U" + uuid.uuid4().hex)


# -------------------------------------------------------------------------------- consent and words


async def test_without_consent_no_words_are_stored_once_the_conversation_is_over(runtime, clock):
    key = new_key()
    await a_full_life(runtime, key, consent=False)
    rows = await all_rows(runtime.db)
    user = await user_row(runtime, key)
    assert user.consent_store_text is False and user.consent_at is not None, "the answer and its time are recorded"
    assert rows["signals"] and all(s["evidence"] is None for s in rows["signals"]), "kinds and scores, no words"
    assert rows["checkins"] and rows["checkins"][0]["reflection"] is None
    assert rows["stored_messages"] == []
    assert holding(rows, WORDS) == [], "the conversation has ended: its words must be nowhere"


async def test_a_live_conversation_holds_words_only_until_it_lapses(runtime, clock):
    """Mid-flow the words sit in the conversation's working memory; the retention pass clears it
    once the conversation lapsed, consent or not."""
    key = new_key()
    await onboard(runtime, key, consent=False)
    await tap(runtime, key, "go:checkin")
    for state in ("energy", "boundaries", "client_respect"):
        await tap(runtime, key, f"c:checkin:{state}:3")
    await say(runtime, key, WORDS)  # the reflection, still in the flow
    assert holding(await all_rows(runtime.db), WORDS) == [("conversations", "vars")]
    await purge_expired(runtime)
    assert holding(await all_rows(runtime.db), WORDS) == [("conversations", "vars")], "live: kept"
    clock.advance(days=8)
    await purge_expired(runtime)
    assert holding(await all_rows(runtime.db), WORDS) == []


async def test_with_consent_words_are_kept_for_the_retention_period_then_purged(runtime, clock):
    key = new_key()
    await a_full_life(runtime, key, consent=True)
    rows = await all_rows(runtime.db)
    assert any(WORDS in m["text"] for m in rows["stored_messages"])
    assert any(s["evidence"] for s in rows["signals"])
    assert rows["checkins"][0]["reflection"] and WORDS in rows["checkins"][0]["reflection"]

    assert any(name == "retention" for name, _, _ in runtime.periodic), "the worker runs retention"
    clock.advance(days=29)
    await purge_expired(runtime)
    rows = await all_rows(runtime.db)
    assert rows["stored_messages"] and rows["checkins"][0]["reflection"], "within 30 days: kept"

    clock.advance(days=2)
    done = await purge_expired(runtime)
    rows = await all_rows(runtime.db)
    assert done["stored_messages"] >= 2
    assert rows["stored_messages"] == []
    assert rows["signals"] and all(s["evidence"] is None for s in rows["signals"]), "scores stay, words go"
    assert rows["checkins"][0]["reflection"] is None and rows["checkins"][0]["energy"] == 2
    assert holding(rows, WORDS) == [], "past retention the words are nowhere in the database"


async def test_retention_days_come_from_the_setting(settings, clock):
    from bot.runtime import build_runtime

    runtime = await build_runtime(settings.model_copy(update={"message_retention_days": 7}), clock=clock, migrate=False)
    try:
        key = new_key()
        await onboard(runtime, key, consent=True)
        await say(runtime, key, OVERWORK_EN)
        clock.advance(days=6)
        await purge_expired(runtime)
        assert (await all_rows(runtime.db))["stored_messages"]
        clock.advance(days=2)
        await purge_expired(runtime)
        assert (await all_rows(runtime.db))["stored_messages"] == []
    finally:
        await runtime.close()


def test_cutoffs_are_pure_and_refuse_naive_times():
    from datetime import datetime, timezone

    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    cut = cutoffs(now, retention_days=30)
    assert cut.text == datetime(2026, 1, 30, tzinfo=timezone.utc)
    assert cut.inbox == datetime(2026, 2, 26, tzinfo=timezone.utc)
    assert cutoffs(now, retention_days=0).text == now
    with pytest.raises(ValueError):
        cutoffs(datetime(2026, 3, 1), retention_days=30)
    with pytest.raises(ValueError):
        cutoffs(now, retention_days=-1)


# ------------------------------------------------------------------------------------ the inbox


class CoachProcessor:
    """A test platform's inbox processor: stored text through the real coach; sends are recorded."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.sent: list[list[str]] = []

    async def prepare(self, session, event):
        platform, user_id = event.user_key.split(":", 1)
        p = event.payload
        inbound = Inbound(user=UserKey(platform, user_id), kind=p["kind"], text=p.get("text"),
                          choice=p.get("choice"), received_at=event.received_at, event_id=event.event_id)
        outcome = await self.runtime.coach.handle(inbound, session=session)
        return Parcel(replies=outcome.replies)

    async def deliver(self, delivery, parcel):
        self.sent.append([r.text for r in parcel.replies])


async def _through_inbox(runtime, worker, key: UserKey, *payloads: dict[str, Any]) -> None:
    events = [IncomingEvent(key.platform, uuid.uuid4().hex, str(key), dict(p, type="message")) for p in payloads]
    await enqueue(runtime.db, events, now=runtime.clock())
    await worker.run_once()


async def test_the_inbox_keeps_words_only_until_the_event_is_handled_and_ids_a_few_days(runtime, clock):
    key = new_key("ops")
    worker = InboxWorker(runtime.db, {"ops": CoachProcessor(runtime)}, clock=clock)
    await onboard(runtime, key, consent=False)
    await _through_inbox(runtime, worker, key, {"kind": "text", "text": OVERWORK_EN})
    rows = await all_rows(runtime.db)
    assert [r["status"] for r in rows["inbox_events"]] == ["done"]
    assert rows["inbox_events"][0]["payload"] == {"type": "message"}
    assert holding(rows, WORDS) == []

    clock.advance(days=2)
    await purge_expired(runtime)
    assert len((await all_rows(runtime.db))["inbox_events"]) == 1, "kept a while to recognise redelivery"
    clock.advance(days=2)
    await purge_expired(runtime)
    assert (await all_rows(runtime.db))["inbox_events"] == []


# ----------------------------------------------------------------------------------------- export


async def test_export_my_data_gives_back_every_row_about_the_user(runtime, clock):
    key, other = new_key(), new_key()
    await a_full_life(runtime, key, consent=True)
    await a_full_life(runtime, other, consent=True)
    user = await user_row(runtime, key)
    await tap(runtime, key, "go:privacy")
    outcome = await tap(runtime, key, "c:privacy:choose:export")
    exported = [r for r in outcome.replies if r.message_id == "privacy.export_data"]
    assert len(exported) == 1, [r.message_id for r in outcome.replies]
    data = json.loads(exported[0].text)

    rows = await all_rows(runtime.db)
    about = references(rows, user_db_id=user.id, platform_user_id=key.user_id)
    tables = sorted({name for name, _ in about})
    assert {"users", "signals", "checkins", "stored_messages", "reminder_prefs"} <= set(tables)
    assert data["user"]["platform_user_id"] == key.user_id and data["user"]["consent_store_text"] is True
    for name in tables:
        if name == "users":
            continue
        mine = [r for n, r in about if n == name]
        assert name in data, f"export leaves out {name}"
        assert len(data[name]) == len(mine), f"{name}: {len(mine)} rows held, {len(data[name])} exported"
        flat = json.dumps(data[name], ensure_ascii=False, default=str)
        for row in mine:
            for col, value in row.items():
                if isinstance(value, str) and col != "user_id":
                    assert value in flat, f"{name}.{col} held but not exported"
    assert other.user_id not in exported[0].text, "someone else's data in an export"


async def test_export_includes_each_domains_tables(runtime, clock):
    """Every table that points at users (now and any added later) appears in an export, even empty."""
    key = new_key()
    await onboard(runtime, key, consent=False)
    from bot.store import repo

    async with runtime.db.session() as session:
        data = await repo.export_user(session, await repo.get_user(session, key))
    linked = sorted(name for name, t in metadata.tables.items() if name != "users" and _user_columns(t))
    assert linked, "no table points at users?"
    assert [name for name in linked if name not in data] == []
    assert "reminder_prefs" in linked and data["reminder_prefs"], "the reminder choice made at onboarding"


# ----------------------------------------------------------------------------------------- delete


async def test_delete_my_data_asks_first_then_leaves_no_row_about_the_user(runtime, clock):
    key, other = new_key(), new_key()
    await a_full_life(runtime, key, consent=True)
    await a_full_life(runtime, other, consent=True)
    user = await user_row(runtime, key)
    before_other = references(await all_rows(runtime.db), user_db_id=(await user_row(runtime, other)).id,
                              platform_user_id=other.user_id)

    await tap(runtime, key, "go:privacy")
    asked = await tap(runtime, key, "c:privacy:choose:delete")
    assert any(c.value == "c:privacy:confirm_delete:confirm" for r in asked.replies for c in r.choices)
    assert references(await all_rows(runtime.db), user_db_id=user.id, platform_user_id=key.user_id), \
        "nothing is deleted before the user confirms"

    done = await tap(runtime, key, "c:privacy:confirm_delete:confirm")
    assert done.user_id is None and any(r.message_id == runtime.content.ui["deleted"] for r in done.replies)
    rows = await all_rows(runtime.db)
    assert references(rows, user_db_id=user.id, platform_user_id=key.user_id) == []
    after_other = references(rows, user_db_id=(await user_row(runtime, other)).id, platform_user_id=other.user_id)
    assert len(after_other) == len(before_other), "someone else's data went too"


async def test_deleting_through_the_inbox_forgets_the_events_that_carried_it(runtime, clock):
    """On a platform the request itself arrives as an inbox event; once answered, no event row says whose."""
    key = new_key("ops")
    processor = CoachProcessor(runtime)
    worker = InboxWorker(runtime.db, {"ops": processor}, clock=clock)
    await onboard(runtime, key, consent=True)
    user = await user_row(runtime, key)
    await _through_inbox(runtime, worker, key, {"kind": "text", "text": OVERWORK_EN},
                         {"kind": "choice", "choice": "go:privacy"},
                         {"kind": "choice", "choice": "c:privacy:choose:delete"},
                         {"kind": "choice", "choice": "c:privacy:confirm_delete:confirm"})
    assert len(processor.sent) == 4, "the confirmation of deletion was delivered"
    rows = await all_rows(runtime.db)
    assert len(rows["inbox_events"]) >= 1, "event ids stay for redelivery detection"
    assert references(rows, user_db_id=user.id, platform_user_id=key.user_id) == []


# ------------------------------------------------------------------------------------ operator CLI


async def test_operators_export_and_delete_a_user_from_the_command_line(runtime, database_url, tmp_path):
    key, other = new_key(), new_key()
    await a_full_life(runtime, key, consent=True)
    await a_full_life(runtime, other, consent=False)
    user = await user_row(runtime, key)
    env = child_env(DATABASE_URL=database_url, LOG_LEVEL="WARNING")

    out = run_bansou(["users", "export", "line", key.user_id], env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["user"]["platform_user_id"] == key.user_id
    assert data["stored_messages"] and data["signals"] and data["checkins"] and data["reminder_prefs"]
    assert other.user_id not in out.stdout

    gone = run_bansou(["users", "delete", "line", key.user_id], env=env, cwd=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert key.user_id in gone.stdout
    rows = await all_rows(runtime.db)
    assert references(rows, user_db_id=user.id, platform_user_id=key.user_id) == []
    assert references(rows, user_db_id=(await user_row(runtime, other)).id, platform_user_id=other.user_id)

    again = run_bansou(["users", "delete", "line", key.user_id], env=env, cwd=tmp_path)
    assert again.returncode == 1 and "no user" in again.stderr
    missing = run_bansou(["users", "export", "line", "Unobody"], env=env, cwd=tmp_path)
    assert missing.returncode == 1 and missing.stdout == ""
