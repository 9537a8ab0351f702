"""SQLAlchemy's aiosqlite adapter with fewer trips to aiosqlite's thread.

aiosqlite runs every call on one thread per connection; each call is a queue hand-off there and a
wake-up of the event loop on the way back. SQLAlchemy's adapter makes four such calls per
statement (cursor, execute, fetchall, close) and one for every COMMIT or ROLLBACK, including the
pool's ROLLBACK on each check-in. Here a statement is one call, and a COMMIT or ROLLBACK with no
transaction open is skipped, as sqlite3 itself makes it a no-op. Results are the same; the
processing path spends about a fifth less CPU on SQLite (benchmarks/bench_processing.py).

Passed to ``create_async_engine`` as ``module=``: nothing global is changed.
"""
from __future__ import annotations

import sqlite3
from collections import deque
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)


def _run_statement(conn: sqlite3.Connection, operation: str, parameters: Any) -> tuple:
    """On aiosqlite's thread: run one statement and collect everything the adapter reads back."""
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


def _run_many(conn: sqlite3.Connection, operation: str, seq_of_parameters: Any) -> tuple:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose execute is a single call on aiosqlite's thread."""

    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> None:
        try:
            description, rows, lastrowid, rowcount = self.await_(
                self._connection._execute(_run_statement, self._connection._conn, operation, parameters))
        except Exception as error:  # noqa: BLE001 - the adapter maps driver errors, as the base class does
            self._adapt_connection._handle_exception(error)
        if description:
            self.description = description
            self.lastrowid = self.rowcount = -1
            self._rows = deque(rows)
        else:
            self.description = None
            self.lastrowid, self.rowcount = lastrowid, rowcount

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        try:
            self.lastrowid, self.rowcount = self.await_(
                self._connection._execute(_run_many, self._connection._conn, operation, seq_of_parameters))
        except Exception as error:  # noqa: BLE001
            self._adapt_connection._handle_exception(error)
        self.description = None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Hands out one-trip cursors; skips COMMIT and ROLLBACK when no transaction is open."""

    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        return super().cursor(server_side) if server_side else OneTripCursor(self)

    def _in_transaction(self) -> bool:
        try:
            # Read on the loop's thread: sqlite3 allows it, and the adapter never runs two calls
            # on one connection at once, so nothing else is using it now.
            return self._connection._conn.in_transaction
        except ValueError:  # closed: let the real call raise its own error
            return True

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy's aiosqlite dialect is given, connecting with OneTripConnection."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def dbapi() -> OneTripDBAPI:
    """A fresh module object for ``create_async_engine(..., module=dbapi())``."""
    return OneTripDBAPI(aiosqlite, sqlite3)
