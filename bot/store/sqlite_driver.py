"""aiosqlite with one thread hand-off per statement instead of four.

SQLAlchemy's aiosqlite dialect makes every statement four calls into aiosqlite's thread:
open a cursor, execute, fetch the rows, close the cursor, each a queue put, a wake-up of the
thread and a `call_soon_threadsafe` back to the loop. On the 2-core machine each hand-off
costs several times what SQLite spends on a small statement, so a declaration's transaction
of 30 statements spent most of its 40 ms travelling between threads.

Here a cursor is a record of one statement's outcome: `execute` runs, in one hand-off, the
whole statement on the connection's thread (cursor, execute, fetch every row, close) and keeps
the rows, the description, the row count and the last row id; the fetches and the close that
follow read that record without leaving the loop. SQLite still runs on aiosqlite's thread,
never on the event loop, so a statement waiting for another process's write lock (the
`busy_timeout`) stalls no other command.

Rows are fetched whole even for a server-side cursor: warroom never streams a result, and
the largest it reads (an export's timeline) is fetched whole anyway.
"""

from __future__ import annotations

import sqlite3
import types
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi


class _Outcome:
    """What one statement left: read on the loop once its hand-off is back."""

    __slots__ = ("description", "lastrowid", "rowcount", "rows")

    def __init__(self, cursor: sqlite3.Cursor, rows: list[Any]) -> None:
        self.rows = rows
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid


def _run(conn: sqlite3.Connection, many: bool, sql: str, parameters: Any) -> _Outcome:
    # On aiosqlite's thread: the whole statement in one go.
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return _Outcome(cursor, rows)
    finally:
        cursor.close()


class Cursor:
    """The part of aiosqlite's Cursor that SQLAlchemy's adapter uses."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._outcome: _Outcome | None = None
        self._rows: list[Any] = []
        self._at = 0
        self.arraysize = 1

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _go(self, many: bool, sql: str, parameters: Any) -> Cursor:
        outcome: _Outcome = await self._conn._execute(_run, self._conn._conn, many, sql, parameters)
        self._outcome, self._rows, self._at = outcome, outcome.rows, 0
        return self

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        return await self._go(False, sql, () if parameters is None else parameters)

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Cursor:
        return await self._go(True, sql, parameters)

    async def fetchone(self) -> Any:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        end = self._at + (self.arraysize if size is None else size)
        chunk = self._rows[self._at : end]
        self._at += len(chunk)
        return chunk

    async def fetchall(self) -> Sequence[Any]:
        chunk = self._rows[self._at :]
        self._at = len(self._rows)
        return chunk

    async def close(self) -> None:
        self._rows, self._at = [], 0  # the sqlite3 cursor was closed on the thread

    async def nextset(self) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._outcome.description if self._outcome else None

    @property
    def rowcount(self) -> int:
        return self._outcome.rowcount if self._outcome else -1

    @property
    def lastrowid(self) -> int | None:
        return self._outcome.lastrowid if self._outcome else None


class Connection(aiosqlite.Connection):
    def cursor(self) -> Cursor:  # type: ignore[override]
        # No hand-off: the sqlite3 cursor is made on the thread by each execute. SQLAlchemy
        # enters the result with `async with` semantics (`__aenter__`), as aiosqlite's is.
        return Cursor(self)


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> Connection:
    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, **kwargs)

    return Connection(connector, iter_chunk_size)


def _module() -> types.ModuleType:
    module = types.ModuleType("warroom_aiosqlite")
    module.__dict__.update(
        {name: getattr(aiosqlite, name) for name in aiosqlite.__all__ if name != "Cursor"}
    )
    module.__dict__.update(connect=connect, Connection=Connection, Cursor=Cursor)
    return module


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The `module=` for create_async_engine on an sqlite+aiosqlite URL."""
    return AsyncAdapt_aiosqlite_dbapi(_module(), sqlite3)
