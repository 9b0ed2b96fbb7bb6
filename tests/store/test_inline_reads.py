"""On an SQLite file, the short reads every command makes run inline (pysqlite) rather than
through aiosqlite's thread, whose hand-offs cost far more than the queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from bot.core.model import Change, Incident, Severity, State
from bot.store import migrate
from bot.store.sql import SqlStore


def incident(title: str) -> Incident:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return Incident(
        0, title, Severity.SEV2, State.INVESTIGATING, at, "alice", "slack", channel_id="C1"
    )


async def test_short_reads_skip_aiosqlite_and_see_what_was_just_written(sqlite_url: str) -> None:
    store = SqlStore.from_url(sqlite_url)
    through_aiosqlite: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        through_aiosqlite.append(statement)

    try:
        await migrate.upgrade(store.engine)
        created = await store.create_incident(incident("DB down"))
        event.listen(store.engine.sync_engine, "before_cursor_execute", seen)
        created.state = State.MONITORING
        await store.commit(Change(incident=created))  # a write: through the async engine
        writes = len(through_aiosqlite)
        assert writes > 0
        found = await store.incident_by_channel("slack", "C1")
        assert found is not None and found.state is State.MONITORING  # the write is visible
        assert [i.number for i in await store.list_incidents()] == [created.number]
        assert await store.get_incident(created.number) == found
        assert await store.tasks(created.number) == []
        assert await store.roles(created.number) == []
        assert len(through_aiosqlite) == writes  # none of the reads went through aiosqlite
    finally:
        await store.close()


async def test_an_in_memory_database_is_read_through_its_one_engine() -> None:
    # Another connection to :memory: would be another, empty database.
    store = SqlStore.from_url("sqlite+aiosqlite://")
    try:
        await migrate.upgrade(store.engine)
        created = await store.create_incident(incident("DB down"))
        assert (await store.get_incident(created.number)) is not None
    finally:
        await store.close()
