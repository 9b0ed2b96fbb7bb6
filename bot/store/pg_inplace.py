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

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.ports import StoreUnavailable

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


async def fetch(raw: Any, sql: str, params: Sequence[Any]) -> list[Any]:
    """Run `sql` ($1, $2, ... placeholders) and return its rows (asyncpg Records)."""
    try:
        return list(await raw.fetch(sql, *params))
    except Exception as error:
        if isinstance(error, OSError) or any(k.__name__ in _GONE for k in type(error).__mro__):
            first = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
            raise StoreUnavailable(first) from error
        raise
