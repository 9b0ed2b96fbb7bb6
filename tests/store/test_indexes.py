"""The indexes the migrations build: the ones queries need, and none that another makes
redundant (each index is paid for on every insert)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection

from bot.store import migrate
from bot.store.sql import SqlStore, make_engine


def _index_columns(connection: Connection) -> dict[str, dict[str, list[str]]]:
    """table -> index or unique constraint name -> its columns, in order."""
    inspector = inspect(connection)
    found: dict[str, dict[str, list[str]]] = {}
    for table in inspector.get_table_names():
        entries = found.setdefault(table, {})
        for index in inspector.get_indexes(table):
            entries[index["name"]] = list(index["column_names"])
        for unique in inspector.get_unique_constraints(table):
            entries[unique["name"]] = list(unique["column_names"])
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_no_index_repeats_the_leading_columns_of_another(
    backend: str, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(request.getfixturevalue(f"{backend}_url"))
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            tables = await conn.run_sync(_index_columns)
    finally:
        await engine.dispose()
    redundant = [
        (table, name, other)
        for table, entries in tables.items()
        for name, columns in entries.items()
        for other, longer in entries.items()
        if other != name and len(longer) > len(columns) and longer[: len(columns)] == columns
    ]
    assert redundant == []
    assert tables["incident"]["ix_incident_declared_at"] == ["declared_at"]


async def test_report_query_reads_incidents_in_declared_order_from_the_index(
    sqlite_url: str,
) -> None:
    store = SqlStore.from_url(sqlite_url)
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    try:
        await migrate.upgrade(store.engine)
        event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
        await store.incidents_declared_since(datetime(2026, 1, 1, tzinfo=UTC))
        event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
        ((statement, parameters),) = seen
        async with store.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            cursor = await raw.driver_connection.execute(
                f"EXPLAIN QUERY PLAN {statement}", parameters
            )
            plan = " | ".join(str(row[-1]) for row in await cursor.fetchall())
    finally:
        await store.close()
    assert "ix_incident_declared_at" in plan
    assert "TEMP B-TREE" not in plan  # no sort of every incident


async def test_open_incident_of_a_service_is_read_from_its_index(sqlite_url: str) -> None:
    from bot.store.alerts import SqlAlerts

    store = SqlStore.from_url(sqlite_url)
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    try:
        await migrate.upgrade(store.engine)
        event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
        await SqlAlerts(store).open_incident("checkout")
        event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
        ((statement, parameters),) = seen
        async with store.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            cursor = await raw.driver_connection.execute(
                f"EXPLAIN QUERY PLAN {statement}", parameters
            )
            plan = " | ".join(str(row[-1]) for row in await cursor.fetchall())
    finally:
        await store.close()
    assert "ix_incident_service (service=?)" in plan, plan
    assert "TEMP B-TREE" not in plan  # newest first from the index, no sort
    assert "SCAN incident" not in plan
