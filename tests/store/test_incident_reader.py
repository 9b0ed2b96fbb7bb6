"""The incident lookups on an SQLite file go through sqlite3 alone (bot/store/sql.py
incident_reader): they give exactly what the engine's reads give, and inside a transaction
they leave the reader alone so that they see the transaction's own writes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.core.model import Change, Invocation, State
from bot.core.router import Router
from bot.core.service import IncidentService
from bot.store import migrate, session
from bot.store.sql import SqlStore


async def _incidents(store: SqlStore) -> None:
    clock = ManualClock(datetime(2026, 3, 3, 12, 0, tzinfo=UTC))
    router = Router(IncidentService(store, {"console": ConsoleChat(lambda _: None)}, clock))
    alice = Invocation("alice", "console", "general")
    await router.handle(alice, "declare sev1 Payments are down")
    await router.handle(alice, "declare sev3 --private Leak ü")
    clock.advance(minutes=5)
    await router.handle(alice, "declare sev2 Search is slow")
    resolved = await store.get_incident(3)
    assert resolved is not None
    resolved.state, resolved.resolved_at = State.RESOLVED, clock.now() + timedelta(minutes=1)
    resolved.channel_id, resolved.channel_name = "C0SEARCH01", "inc-3-search"
    await store.commit(Change(incident=resolved))


async def test_the_sqlite3_lookups_give_what_the_engine_gives(sqlite_url: str) -> None:
    store = SqlStore.from_url(sqlite_url)
    await migrate.upgrade(store.engine)
    try:
        await _incidents(store)
        assert store._incidents is not None

        async def reads() -> list[object]:
            return [
                await store.get_incident(1),
                await store.get_incident(2),
                await store.get_incident(99),
                await store.incident_by_channel("console", "C0SEARCH01"),
                await store.incident_by_channel("console", "nowhere"),
                await store.list_incidents(),
                await store.list_incidents(include_resolved=True),
                await store.list_incidents(include_resolved=True, limit=2),
            ]

        fast = await reads()
        reader, store._incidents = store._incidents, None  # the engine's way
        try:
            slow = await reads()
        finally:
            store._incidents = reader
        assert fast == slow
        assert [i.number for i in fast[6]] == [3, 2, 1]  # type: ignore[attr-defined]
        assert [i.number for i in fast[5]] == [2, 1]  # type: ignore[attr-defined]
    finally:
        await store.close()


async def test_inside_a_transaction_a_lookup_sees_its_writes(sqlite_url: str) -> None:
    store = SqlStore.from_url(sqlite_url)
    await migrate.upgrade(store.engine)
    try:
        await _incidents(store)
        async with session.transaction(store.engine):
            incident = await store.get_incident(1)
            assert incident is not None
            incident.title = "Payments are down in the EU"
            await store.commit(Change(incident=incident))
            again = await store.get_incident(1)
            assert again is not None and again.title == "Payments are down in the EU"
    finally:
        await store.close()


async def test_opening_a_store_creates_no_file(tmp_path: Path) -> None:
    """The lookups connect at the first lookup: opening a store (to check a file, to say it
    does not exist) must not make an empty database."""
    path = f"{tmp_path}/never.db"
    store = SqlStore.from_url(f"sqlite+aiosqlite:///{path}")
    await store.close()
    assert not await asyncio.to_thread(Path(path).exists)
