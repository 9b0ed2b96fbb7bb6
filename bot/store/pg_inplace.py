"""Postgres statements on a transaction's own asyncpg connection, without SQLAlchemy's
execution machinery around them: the outbox's INSERTs, of which a status update makes three
(its post, its announcement, the playbook's reaction) before it commits. Measured inside a
transaction on the 2-core machine: 0.46 ms per INSERT through SQLAlchemy, 0.27 ms through
asyncpg alone, of which the round trip is about 0.2 ms. The SQLite counterpart is
`sqlite_driver.execute_in_place`.

Only inside a transaction that asyncpg has begun: SQLAlchemy's adapter sends BEGIN with the
transaction's first statement, so before that a statement here would run outside it (the
caller then takes SQLAlchemy's way). Parameters are given as asyncpg takes them for these
columns, which is what SQLAlchemy would have bound: aware datetimes for timestamptz, JSON text
for jsonb (the dialect's jsonb codec takes text). A lost connection is StoreUnavailable, as
the session makes of SQLAlchemy's errors; asyncpg's other errors are raised as they are.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.ports import StoreUnavailable
from bot.store.types import JSONData, UTCDateTime

# Rows per INSERT here; more go SQLAlchemy's way (insertmanyvalues pages them), well under
# Postgres' 32,767 parameters per statement.
MAX_ROWS = 100

# asyncpg's errors that mean the server or the connection is gone, by name: asyncpg is
# imported only where Postgres is used.
_GONE = {
    "ConnectionDoesNotExistError",
    "InterfaceError",
    "ConnectionFailureError",
    "CannotConnectNowError",
    "AdminShutdown",
    "CrashShutdown",
}


def connection(conn: AsyncConnection) -> Any | None:
    """The asyncpg connection under `conn`, if it is in its transaction; else None."""
    if conn.dialect.driver != "asyncpg":
        return None
    raw = conn.sync_connection.connection.driver_connection if conn.sync_connection else None
    if raw is None or not raw.is_in_transaction():
        return None
    return raw


async def fetch(
    raw: Any, sql: str, params: Sequence[Any], conn: AsyncConnection | None = None
) -> list[Any]:
    """Run `sql` ($1, $2, ... placeholders) and return its rows (asyncpg Records). With the
    engine connection `conn`, its cursor-execute listeners see the statement as they see
    SQLAlchemy's (with no cursor or execution context): what counts or traces statements,
    tests and instrumentation alike, counts these too."""
    sync = conn.sync_connection if conn is not None else None
    # (SQLAlchemy's own check before it dispatches these events.)
    observed = sync is not None and (sync._has_events or sync.engine._has_events)
    if observed:
        for listener in sync.dispatch.before_cursor_execute:  # type: ignore[union-attr]
            sql, params = listener(sync, None, sql, params, None, False)
    try:
        rows = list(await raw.fetch(sql, *params))
    except Exception as error:
        if isinstance(error, OSError) or any(k.__name__ in _GONE for k in type(error).__mro__):
            first = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
            raise StoreUnavailable(first) from error
        raise
    if observed:
        sync.dispatch.after_cursor_execute(sync, None, sql, params, None, False)  # type: ignore[union-attr]
    return rows


async def insert(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], suffix: str = ""
) -> list[Any] | None:
    """INSERT `rows` (each with the same keys, every column the statement sets) into
    `table` in one statement, `suffix` after its VALUES (ON CONFLICT, RETURNING): the rows
    it returns, or None where this cannot run it (not asyncpg, not begun, too many rows) and
    the caller takes SQLAlchemy's way. Every key is given, so no column default applies."""
    raw = connection(conn) if rows and len(rows) <= MAX_ROWS else None
    if raw is None:
        return None
    columns = tuple(rows[0])
    json_columns, time_columns = _typed(table)
    params: list[Any] = []
    for row in rows:
        for column in columns:
            value = row[column]
            if column in json_columns:
                value = json.dumps(value)
            elif column in time_columns and value is not None and value.tzinfo is None:
                raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC time")
            params.append(value)
    return await fetch(raw, _insert_sql(table.name, columns, len(rows), suffix), params, conn)


async def execute_insert(
    conn: AsyncConnection, statement: Any, rows: list[dict[str, Any]], suffix: str = ""
) -> Sequence[Any]:
    """A built INSERT (`statement`, of one table) for `rows`, and the rows it returns: through
    asyncpg alone where `insert` can (`suffix`: the statement's ON CONFLICT and RETURNING as
    SQL), else through SQLAlchemy. Rows are read by position, which both kinds allow."""
    returned = await insert(conn, statement.table, rows, suffix)
    if returned is not None:
        return returned
    result = await conn.execute(statement, rows)
    return result.all() if result.returns_rows else []


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], n: int, suffix: str) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    width = len(columns)
    values = ", ".join(
        "(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")" for r in range(n)
    )
    return f'INSERT INTO "{table}" ({names}) VALUES {values} {suffix}'.rstrip()


@functools.cache
def _typed(table: Table) -> tuple[frozenset[str], frozenset[str]]:
    """The columns bound as JSON text (the dialect's jsonb codec takes text) and the times,
    which must be aware (asyncpg binds aware datetimes to timestamptz as they are)."""
    return (
        frozenset(c.name for c in table.c if isinstance(c.type, JSONData)),
        frozenset(c.name for c in table.c if isinstance(c.type, UTCDateTime)),
    )
