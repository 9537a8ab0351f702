"""What the store relies on from the database driver, on the backend under test: rows and counts as
the database reports them, driver errors as SQLAlchemy's own exceptions, real rollbacks, a durable
ingest, and (SQLite) the pragmas set on every connection."""
from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from bot.store.db import SQLITE_BUSY_TIMEOUT_MS, Database
from tests.conftest import BACKEND

ID_COLUMN = "INTEGER PRIMARY KEY" if BACKEND == "sqlite" else "SERIAL PRIMARY KEY"


@pytest.fixture
async def db(database_url):
    database = Database(database_url)
    async with database.engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE notes (id {ID_COLUMN}, body TEXT UNIQUE NOT NULL)"))
    yield database
    await database.dispose()


async def notes(database: Database) -> list[str]:
    async with database.engine.connect() as conn:
        return list((await conn.execute(text("SELECT body FROM notes ORDER BY id"))).scalars())


async def test_rows_and_rowcounts_are_what_the_database_says(db):
    async with db.engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        assert inserted.rowcount == 1
        if db.is_sqlite:
            assert inserted.lastrowid == 1
        many = await conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), [{"b": "b"}, {"b": "c"}])
        if db.is_sqlite:  # asyncpg reports no row count for executemany
            assert many.rowcount == 2
        returned = await conn.execute(text("INSERT INTO notes (body) VALUES ('d') RETURNING id, body"))
        assert returned.all() == [(4, "d")]
        updated = await conn.execute(text("UPDATE notes SET body = body || '!' WHERE id > 2"))
        assert updated.rowcount == 2
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, body FROM notes ORDER BY id"))
        assert list(rows.keys()) == ["id", "body"]
        assert rows.all() == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
        empty = await conn.execute(text("SELECT body FROM notes WHERE id = 99"))
        assert empty.first() is None


async def test_driver_errors_come_back_as_sqlalchemy_errors_and_the_connection_stays_usable(db):
    async with db.engine.connect() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('same')"))
        await conn.commit()
        with pytest.raises(exc.IntegrityError):
            await conn.execute(text("INSERT INTO notes (body) VALUES ('same')"))
        await conn.rollback()
        with pytest.raises(exc.IntegrityError):
            await conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), [{"b": "x"}, {"b": "x"}])
        await conn.rollback()
        with pytest.raises((exc.OperationalError, exc.ProgrammingError)):  # SQLite / PostgreSQL
            await conn.execute(text("SELECT * FROM no_such_table"))
        await conn.rollback()
        assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar() == 1


async def test_rollback_undoes_an_open_transaction_and_an_uncommitted_session_is_rolled_back(db):
    async with db.engine.connect() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
        await conn.commit()
        await conn.execute(text("INSERT INTO notes (body) VALUES ('undone')"))
        await conn.rollback()
    async with db.session() as session:
        await session.execute(text("INSERT INTO notes (body) VALUES ('never committed')"))
    # the session closed without commit: its connection went back to the pool rolled back
    async with db.engine.connect() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('next')"))
        await conn.commit()
    assert await notes(db) == ["kept", "next"]


async def test_a_connection_returned_mid_transaction_holds_no_lock_for_the_next_writer(db):
    async with db.engine.connect() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('abandoned')"))
        # closed with the transaction open
    async with db.engine.begin() as conn:  # would wait out the busy timeout if the write were still open
        await conn.execute(text("INSERT INTO notes (body) VALUES ('written')"))
    assert await notes(db) == ["written"]


async def test_an_ingested_row_is_durable_when_ingest_returns(db, database_url):
    async with db.ingest() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('e1'), ('e2')"))
    other = Database(database_url)  # another process, as it were
    try:
        assert await notes(other) == ["e1", "e2"]
    finally:
        await other.dispose()


@pytest.mark.sqlite_only
async def test_sqlite_connections_are_tuned_for_a_small_server(db):
    for engine in (db.engine, None):
        async with (engine.connect() if engine is not None else db.ingest()) as conn:
            pragma = {name: (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                      for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")}
        assert pragma == {"journal_mode": "wal", "busy_timeout": SQLITE_BUSY_TIMEOUT_MS, "foreign_keys": 1,
                          "synchronous": 1}  # 1 = NORMAL
