"""The one-trip aiosqlite adapter (bot/store/sqlite_driver.py): same results as SQLAlchemy's own,
fewer calls on aiosqlite's thread. Always on SQLite, whichever backend the suite runs on."""
from __future__ import annotations

import aiosqlite
import pytest
from sqlalchemy import exc, text

from bot.store.db import Database
from bot.store.sqlite_driver import OneTripConnection, OneTripCursor, OneTripDBAPI


@pytest.fixture
async def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'driver.db'}")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE NOT NULL)"))
    yield database
    await database.dispose()


@pytest.fixture
def trips(monkeypatch):
    """Every call made on aiosqlite's thread, by the name of the function run there."""
    calls: list[str] = []
    original = aiosqlite.Connection._execute

    async def counting(self, fn, *args, **kwargs):
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return calls


async def test_the_engine_uses_the_one_trip_adapter(db):
    assert isinstance(db.engine.dialect.dbapi, OneTripDBAPI)
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.dbapi_connection, OneTripConnection)
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)


async def test_rows_rowcount_and_lastrowid_are_what_sqlite_says(db):
    async with db.engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        assert inserted.rowcount == 1 and inserted.lastrowid == 1
        many = await conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), [{"b": "b"}, {"b": "c"}])
        assert many.rowcount == 2
        returned = await conn.execute(text("INSERT INTO notes (body) VALUES ('d') RETURNING id, body"))
        assert returned.all() == [(4, "d")]
        updated = await conn.execute(text("UPDATE notes SET body = body || '!' WHERE id > 2"))
        assert updated.rowcount == 2
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, body FROM notes ORDER BY id"))
        assert rows.keys() == ["id", "body"]
        assert rows.all() == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
        empty = await conn.execute(text("SELECT body FROM notes WHERE id = 99"))
        assert empty.first() is None


async def test_driver_errors_come_back_as_sqlalchemy_errors_and_the_connection_stays_usable(db):
    async with db.engine.connect() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('same')"))
        with pytest.raises(exc.IntegrityError):
            await conn.execute(text("INSERT INTO notes (body) VALUES ('same')"))
        with pytest.raises(exc.IntegrityError):
            await conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), [{"b": "x"}, {"b": "x"}])
        with pytest.raises(exc.OperationalError):
            await conn.execute(text("SELECT * FROM no_such_table"))
        await conn.rollback()
        assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar() == 0


async def test_a_statement_is_one_trip_and_a_checkin_after_commit_is_none(db, trips):
    async with db.engine.connect() as conn:  # connect once, so the pool's set-up is not counted
        await conn.execute(text("SELECT 1"))
    trips.clear()
    async with db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('a')"))
    # the INSERT, the COMMIT, and no ROLLBACK when the pool takes the connection back
    assert trips == ["_run_statement", "commit"]
    trips.clear()
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT body FROM notes"))).scalar() == "a"
    assert trips == ["_run_statement"]  # a read opens no transaction, so there is nothing to roll back


async def test_rollback_still_undoes_an_open_transaction(db, trips):
    async with db.engine.connect() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
        await conn.commit()
        await conn.execute(text("INSERT INTO notes (body) VALUES ('undone')"))
        trips.clear()
        await conn.rollback()
        assert trips == ["rollback"]
    async with db.session() as session:
        await session.execute(text("INSERT INTO notes (body) VALUES ('never committed')"))
    # the session closed without commit: the pool's reset rolled it back
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT body FROM notes"))).scalars().all() == ["kept"]


async def test_commit_or_rollback_on_a_closed_connection_raises_instead_of_being_skipped(db):
    from sqlalchemy.util import greenlet_spawn

    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).dbapi_connection
        await conn.invalidate()  # closes the aiosqlite connection under the adapter
    for call in (raw.commit, raw.rollback):
        with pytest.raises(Exception, match="no active connection|closed"):
            await greenlet_spawn(call)


async def test_storing_webhook_events_is_one_call_and_durable_when_it_returns(tmp_path, _sqlite_template_path, trips):
    import shutil
    from datetime import datetime, timezone

    from bot.inbox import IncomingEvent, enqueue

    shutil.copy(_sqlite_template_path, tmp_path / "inbox.db")
    database = Database(f"sqlite:///{tmp_path / 'inbox.db'}")
    events = [IncomingEvent("line", f"e{n}", "line:U1", {"type": "message", "n": n}) for n in range(3)]
    try:
        now = datetime(2026, 11, 22, tzinfo=timezone.utc)
        assert await enqueue(database, events[:1], now=now) == 1  # the ingest pool's connection is made
        trips.clear()
        assert await enqueue(database, events, now=now) == 2  # the first is already stored
        assert trips == ["_run_statement"]  # autocommit: no COMMIT of its own
        other = Database(f"sqlite:///{tmp_path / 'inbox.db'}")  # another process, as it were
        try:
            async with other.engine.connect() as conn:
                stored = await conn.execute(text("SELECT event_id, status FROM inbox_events ORDER BY event_id"))
                assert stored.all() == [("e0", "pending"), ("e1", "pending"), ("e2", "pending")]
        finally:
            await other.dispose()
    finally:
        await database.dispose()
