"""The async engine and session factory, with SQLite tuned for a small server (WAL, busy timeout)."""
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.settings import async_database_url

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


def make_engine(database_url: str, **kwargs) -> AsyncEngine:
    """Create the async engine for an operator-style URL (sqlite:///, postgres://, postgresql://)."""
    url = async_database_url(database_url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # The inbox worker holds a connection per user it is serving (8 at once), the web chat and the
    # reminder dispatcher take theirs beside it; a pool smaller than the busy load opens and closes an
    # overflow connection for nearly every event (tests/test_inbox_worker.py), which costs more CPU
    # than the coaching.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    return create_async_engine(url, **kwargs)


def lock_id(name: str) -> int:
    """A stable signed 64-bit number for a lock name (PostgreSQL advisory locks take bigint)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class Database:
    """Owns the engine; hands out sessions and per-user locks that also hold across processes."""

    def __init__(self, database_url: str, **engine_kwargs):
        self.url = database_url
        self.engine = make_engine(database_url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._ingest_engine: AsyncEngine | None = None
        self._local_locks: dict[str, asyncio.Lock] = {}
        self._local_users: dict[str, int] = {}
        self._identity: tuple[int, int] | None = None
        try:  # which file we open: a file deleted or replaced later is not ours any more
            self._identity = self._file_identity()
        except OSError:
            pass

    @asynccontextmanager
    async def session(self, conn: AsyncConnection | None = None) -> AsyncIterator[AsyncSession]:
        """A session on the pool, or on ``conn`` (the one ``user_lock`` holds)."""
        async with (self.sessions(bind=conn) if conn is not None else self.sessions()) as session:
            yield session

    @asynccontextmanager
    async def ingest(self) -> AsyncIterator[AsyncConnection]:
        """A connection for ONE statement that must be durable on return (webhook events into the inbox).

        It comes from a small pool of its own in autocommit mode: the statement is its own
        transaction, so storing events is one statement instead of BEGIN, INSERT and COMMIT, each
        of which waits its turn on an event loop that is also running the engine. On PostgreSQL there is no pre-ping either: a connection that died
        with a database restart fails that one statement (the webhook answers 503, and the platform
        redelivers) and the pool is refreshed."""
        if self.is_sqlite and self.engine.url.database in (None, "", ":memory:"):
            async with self.engine.begin() as conn:  # a second engine would open another, empty database
                yield conn
            return
        if self._ingest_engine is None:
            pool = {"pool_size": 2, "max_overflow": 2} if self.is_sqlite else \
                {"pool_size": 4, "max_overflow": 4, "pool_pre_ping": False}
            self._ingest_engine = make_engine(self.url, isolation_level="AUTOCOMMIT", **pool)
        async with self._ingest_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def user_lock(self, key: str) -> AsyncIterator[AsyncConnection]:
        """Serialise work for one user: an asyncio lock in this process, plus, on PostgreSQL, a
        session-level advisory lock so two processes never handle one user at once.

        Yields the connection that holds the lock; the caller runs the user's transactions on it
        (``session(conn)``), so a turn takes one connection from the pool, not one for the lock and
        one per transaction (each with its pre-ping and reset). No transaction is open on it."""
        lock = self._local_locks.get(key)
        if lock is None:
            lock = self._local_locks[key] = asyncio.Lock()
        self._local_users[key] = self._local_users.get(key, 0) + 1
        try:
            async with lock, self.engine.connect() as conn:
                if self.is_sqlite:
                    yield conn
                    return
                lid = lock_id("user:" + key)
                await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lid})
                await conn.commit()  # the lock outlives transactions; sessions on conn begin their own
                try:
                    yield conn
                finally:
                    await conn.rollback()  # whatever a failed caller left open
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lid})
                    await conn.commit()
        finally:
            self._local_users[key] -= 1
            if self._local_users[key] == 0:
                del self._local_users[key]
                self._local_locks.pop(key, None)

    def sqlite_path(self) -> Path | None:
        """The SQLite database file, when there is one."""
        if not self.is_sqlite:
            return None
        path = async_database_url(self.url).split(":///", 1)[-1].split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None

    def _file_identity(self) -> tuple[int, int] | None:
        path = self.sqlite_path()
        if path is None:
            return None
        st = path.stat()
        return st.st_dev, st.st_ino

    async def writable(self, *, now) -> bool:  # noqa: ANN001
        """True when a write commits: the database is not read-only and (SQLite) its file is the one
        we opened (a file deleted or replaced under us would take writes that nobody ever reads)."""
        from bot.store.models import ReadinessProbe

        try:
            if self.is_sqlite and self.sqlite_path() is not None:
                identity = self._file_identity()
                if self._identity is not None and identity != self._identity:
                    return False
            if self.is_sqlite:
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            stmt = insert(ReadinessProbe).values(id=1, checked_at=now)
            stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={"checked_at": stmt.excluded.checked_at})
            async with self.engine.connect() as conn:
                await conn.execute(stmt)
                await conn.commit()
            if self.is_sqlite and self.sqlite_path() is not None:
                identity = self._file_identity()  # the file still there after the write
                if self._identity is None:
                    self._identity = identity
                return identity == self._identity
            return True
        except Exception:  # noqa: BLE001 - a readiness check reports, never raises
            return False

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - health check reports, never raises
            return False

    async def dispose(self) -> None:
        if self._ingest_engine is not None:
            await self._ingest_engine.dispose()
            self._ingest_engine = None
        await self.engine.dispose()
