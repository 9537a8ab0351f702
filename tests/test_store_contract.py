"""The store's contract, run over every backend in the same session (as aiogram runs one storage
test class over each of its storages): what ``bot/store/repo.py`` promises must hold the same on
SQLite and on PostgreSQL. The PostgreSQL case runs whenever BANSOU_TEST_PG_URL is set
(``scripts/test`` sets it in both passes) and is skipped otherwise.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError

from bot.engine import ConvoState
from bot.store import repo
from bot.store.db import Database
from bot.store.models import CheckIn, Conversation, InboxEvent, SignalRecord, StoredMessage, User
from bot.types import Signal, UserKey
from tests.conftest import fresh_database

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
JST = timezone(timedelta(hours=9))
ME = UserKey("cli", "contract-user")


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request, tmp_path, _sqlite_template_path):
    """A ``Database`` on a fresh, migrated database of each backend."""
    async with fresh_database(request.param, tmp_path, _sqlite_template_path) as url:
        db = Database(url)
        try:
            yield db
        finally:
            await db.dispose()


async def new_user(db: Database, key: UserKey = ME, *, consent: bool = False) -> int:
    async with db.session() as s:
        user = await repo.create_user(s, key, language="ja", timezone="Asia/Tokyo", now=T0)
        if consent:
            await repo.update_user(s, user, {"consent_store_text": True, "consent_at": T0})
        await s.commit()
        return user.id


async def count(db: Database, model, **where) -> int:
    async with db.session() as s:
        q = select(func.count()).select_from(model)
        for name, value in where.items():
            q = q.where(getattr(model, name) == value)
        return (await s.execute(q)).scalar_one()


def signal(kind: str, evidence: str, score: float = 0.8) -> Signal:
    return Signal(kind=kind, evidence=evidence, start=0, end=len(evidence), score=score)


class TestStoreContract:
    # ---- users ------------------------------------------------------------------------------
    async def test_a_user_is_created_once_and_found_by_platform_and_id(self, store):
        async with store.session() as s:
            assert await repo.get_user(s, ME) is None
            user, created = await repo.get_or_create_user(s, ME, language="en", timezone="Europe/London", now=T0)
            assert created and user.id is not None
            await s.commit()
        async with store.session() as s:
            again, created = await repo.get_or_create_user(s, ME, language="ja", timezone="Asia/Tokyo", now=T0)
            assert not created and again.id == user.id
            assert (again.language, again.timezone, again.consent_store_text, again.active) == \
                ("en", "Europe/London", False, True)
            assert await repo.get_user(s, UserKey("slack", ME.user_id)) is None, "the platform is part of the key"

    async def test_the_same_platform_user_twice_is_refused(self, store):
        await new_user(store)
        async with store.session() as s:
            s.add(User(platform=ME.platform, platform_user_id=ME.user_id, language="ja", timezone="Asia/Tokyo",
                       consent_store_text=False, active=True, created_at=T0, platform_meta={}))
            with pytest.raises(IntegrityError):
                await s.flush()

    async def test_times_come_back_timezone_aware_in_utc_and_naive_times_are_refused(self, store):
        async with store.session() as s:
            user = await repo.create_user(s, ME, language="ja", timezone="Asia/Tokyo", now=T0.astimezone(JST))
            await s.commit()
        async with store.session() as s:
            user = await repo.get_user(s, ME)
            assert user.created_at == T0 and user.created_at.utcoffset() == timedelta(0)
            with pytest.raises(StatementError, match="naive datetime"):
                await repo.update_user(s, user, {"last_message_at": T0.replace(tzinfo=None)})

    async def test_update_user_writes_columns_whether_or_not_other_changes_are_pending(self, store):
        await new_user(store)
        later = T0 + timedelta(hours=1)
        async with store.session() as s:
            user = await repo.get_user(s, ME)
            await repo.update_user(s, user, {"last_message_at": later, "platform_meta": {"team": "T1", "名前": "伴走"}})
            assert user.last_message_at == later
            await s.commit()
        async with store.session() as s:
            user = await repo.get_user(s, ME)
            user.language = "en"  # a pending ORM change: the update goes through the same flush
            await repo.update_user(s, user, {"timezone": "America/New_York"})
            await s.commit()
        async with store.session() as s:
            user = await repo.get_user(s, ME)
            assert (user.language, user.timezone, user.last_message_at) == ("en", "America/New_York", later)
            assert user.platform_meta == {"team": "T1", "名前": "伴走"}

    # ---- conversations ----------------------------------------------------------------------
    async def test_a_conversation_is_inserted_updated_and_deleted(self, store):
        uid = await new_user(store)
        async with store.session() as s:
            user, convo, exists = await repo.load_user_and_convo(s, ME)
            assert user.id == uid and convo is None and not exists
            vars_ = {"energy": 3, "note": "週末も働いた", "picked": ["a", "b"], "nested": {"n": None, "x": 1.5}}
            await repo.save_convo(s, uid, ConvoState("checkin", "boundaries", vars_, T0 + timedelta(hours=2)),
                                  now=T0, exists=exists)
            await s.commit()
        async with store.session() as s:
            user, convo, exists = await repo.load_user_and_convo(s, ME)
            assert exists and convo == ConvoState("checkin", "boundaries", vars_, T0 + timedelta(hours=2))
            assert convo.expires_at.utcoffset() == timedelta(0)
            await repo.save_convo(s, uid, ConvoState("checkin", "respect", {"energy": 4}, T0 + timedelta(hours=3)),
                                  now=T0 + timedelta(minutes=1))  # exists looked up
            await s.commit()
        async with store.session() as s:
            assert await repo.load_convo(s, uid) == ConvoState("checkin", "respect", {"energy": 4},
                                                               T0 + timedelta(hours=3))
            row = await s.get(Conversation, uid)
            assert row.updated_at == T0 + timedelta(minutes=1)
            await repo.save_convo(s, uid, None, now=T0, exists=True)
            await s.commit()
        async with store.session() as s:
            assert await repo.load_convo(s, uid) is None
            assert await repo.load_user_and_convo(s, ME) == (await repo.get_user(s, ME), None, False)
            await repo.save_convo(s, uid, None, now=T0)  # deleting what is not there is a no-op

    async def test_load_user_and_convo_finds_nobody_for_an_unknown_key(self, store):
        async with store.session() as s:
            assert await repo.load_user_and_convo(s, UserKey("line", "nobody")) == (None, None, False)

    async def test_a_rolled_back_turn_leaves_nothing(self, store):
        uid = await new_user(store, consent=True)
        async with store.session() as s:
            user = await repo.get_user(s, ME)
            await repo.save_convo(s, uid, ConvoState("checkin", "energy", {}, T0 + timedelta(hours=1)), now=T0)
            await repo.record_signals(s, user, [signal("overwork", "until 2am")], now=T0)
            await repo.store_message(s, user, text="until 2am", direction="in", now=T0)
            await s.rollback()
        assert (await count(store, Conversation), await count(store, SignalRecord),
                await count(store, StoredMessage)) == (0, 0, 0)

    # ---- what is kept, and only with consent ---------------------------------------------
    async def test_signal_evidence_check_in_words_and_message_text_are_kept_only_with_consent(self, store):
        shy = UserKey("line", "U-no-consent")
        await new_user(store, shy)
        await new_user(store, consent=True)
        for key in (shy, ME):
            async with store.session() as s:
                user = await repo.get_user(s, key)
                await repo.record_signals(s, user, [signal("overwork", "徹夜"), signal("resentment", "never thanks")],
                                          now=T0)
                await repo.record_signals(s, user, [], now=T0)
                await repo.save_checkin(s, user, now=T0, energy=2, boundaries=3, client_respect=None,
                                        reflection="断れなかった")
                await repo.store_message(s, user, text="徹夜した", direction="in", now=T0, platform_message_id="m1")
                await s.commit()
        async with store.session() as s:
            for key, keep in ((shy, False), (ME, True)):
                user = await repo.get_user(s, key)
                signals = await repo.signals_since(s, user.id, T0)
                assert sorted((r.kind, r.evidence) for r in signals) == (
                    [("overwork", "徹夜"), ("resentment", "never thanks")] if keep
                    else [("overwork", None), ("resentment", None)])
                [checkin] = await repo.checkins_since(s, user.id, T0)
                assert (checkin.energy, checkin.boundaries, checkin.client_respect) == (2, 3, None)
                assert checkin.reflection == ("断れなかった" if keep else None)
                kept = (await s.execute(select(StoredMessage.text).where(StoredMessage.user_id == user.id))).scalars()
                assert list(kept) == (["徹夜した"] if keep else [])

    async def test_an_unsent_message_is_forgotten_by_its_platform_id(self, store):
        uid = await new_user(store, consent=True)
        async with store.session() as s:
            user = await repo.get_user(s, ME)
            for mid in ("m1", "m2"):
                await repo.store_message(s, user, text=f"text {mid}", direction="in", now=T0, platform_message_id=mid)
            await s.commit()
        async with store.session() as s:
            assert await repo.delete_stored_message(s, uid, "m1") == 1
            assert await repo.delete_stored_message(s, uid, "m1") == 0
            assert await repo.delete_stored_message(s, uid + 1, "m2") == 0, "another user's id deletes nothing"
            await s.commit()
        assert await count(store, StoredMessage) == 1

    async def test_kept_text_older_than_the_retention_period_is_purged(self, store):
        await new_user(store, consent=True)
        async with store.session() as s:
            user = await repo.get_user(s, ME)
            for days_ago in (40, 31, 30, 1):
                await repo.store_message(s, user, text=f"{days_ago} days ago", direction="in",
                                         now=T0 - timedelta(days=days_ago))
            await s.commit()
        async with store.session() as s:
            assert await repo.purge_stored_messages(s, now=T0, retention_days=30) == 2
            await s.commit()
        async with store.session() as s:
            left = (await s.execute(select(StoredMessage.text).order_by(StoredMessage.at))).scalars().all()
        assert left == ["30 days ago", "1 days ago"]

    # ---- reading back over time ---------------------------------------------------------
    async def test_check_ins_and_signals_since_a_moment_come_in_time_order(self, store):
        uid = await new_user(store)
        async with store.session() as s:
            user = await repo.get_user(s, ME)
            assert await repo.last_checkin_scores(s, uid) is None
            for hours, energy in ((5, 5), (-1, 1), (2, 2), (0, 3)):  # written out of order
                await repo.save_checkin(s, user, now=T0 + timedelta(hours=hours), energy=energy, boundaries=None,
                                        client_respect=4, reflection=None)
                await repo.record_signals(s, user, [signal("overwork", "x", score=energy / 10)],
                                          now=(T0 + timedelta(hours=hours)).astimezone(JST))
            await s.commit()
        async with store.session() as s:
            assert [c.energy for c in await repo.checkins_since(s, uid, T0)] == [3, 2, 5], "since is inclusive"
            assert [round(r.score, 2) for r in await repo.signals_since(s, uid, T0)] == [0.3, 0.2, 0.5]
            assert all(r.at.utcoffset() == timedelta(0) for r in await repo.signals_since(s, uid, T0))
            assert await repo.last_checkin_scores(s, uid) == {"energy": 5, "boundaries": None, "client_respect": 4}

    # ---- an operator's export and erasure -----------------------------------------------
    async def test_export_holds_every_users_rows_and_delete_removes_them_and_their_finished_inbox(self, store):
        other = UserKey("line", "U-other")
        other_id = await new_user(store, other, consent=True)
        uid = await new_user(store, consent=True)
        async with store.session() as s:
            for key, user_id in ((ME, uid), (other, other_id)):
                user = await repo.get_user(s, key)
                await repo.save_convo(s, user_id, ConvoState("checkin", "energy", {"k": "値"}, T0 + timedelta(hours=1)),
                                      now=T0)
                await repo.record_signals(s, user, [signal("controlling", "make them")], now=T0)
                await repo.save_checkin(s, user, now=T0, energy=3, boundaries=3, client_respect=3, reflection="ok")
                await repo.store_message(s, user, text="hello", direction="in", now=T0)
                for status in ("done", "pending"):
                    s.add(InboxEvent(platform=key.platform, event_id=f"{key.user_id}-{status}",
                                     user_key=f"{key.platform}:{key.user_id}", payload={"type": "message"},
                                     status=status, attempts=0, received_at=T0))
            await s.commit()
        async with store.session() as s:
            data = await repo.export_user(s, await repo.get_user(s, ME))
        assert data["user"]["platform_user_id"] == ME.user_id and data["user"]["created_at"] == T0.isoformat()
        assert data["conversations"] == [{"flow": "checkin", "state": "energy", "vars": {"k": "値"},
                                          "updated_at": T0.isoformat(),
                                          "expires_at": (T0 + timedelta(hours=1)).isoformat()}]
        assert [r["evidence"] for r in data["signals"]] == ["make them"]
        assert [r["reflection"] for r in data["checkins"]] == ["ok"]
        assert [r["text"] for r in data["stored_messages"]] == ["hello"]
        async with store.session() as s:
            await repo.delete_user(s, await repo.get_user(s, ME))
            await s.commit()
        async with store.session() as s:
            assert await repo.get_user(s, ME) is None
            assert await repo.get_user(s, other) is not None
        for model in (Conversation, SignalRecord, CheckIn, StoredMessage):
            assert await count(store, model, user_id=uid) == 0, model.__tablename__
            assert await count(store, model, user_id=other_id) == 1, f"the other user's {model.__tablename__} stay"
        assert await count(store, InboxEvent, user_key=f"{ME.platform}:{ME.user_id}") == 1, \
            "a pending delivery is left for the inbox to finish; a finished one goes"
        assert await count(store, InboxEvent, user_key=f"{other.platform}:{other.user_id}") == 2
