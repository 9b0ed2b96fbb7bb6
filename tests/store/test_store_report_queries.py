"""Store contract for what `warroom report` reads: run against memory, SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.model import Change, Incident, Severity, State
from bot.core.ports import Store

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def incident(declared_at: datetime, title: str) -> Incident:
    return Incident(0, title, Severity.SEV2, State.INVESTIGATING, declared_at, "alice", "console")


async def test_incidents_declared_since_filters_and_orders_oldest_first(store: Store) -> None:
    # Created out of order, so the result's order comes from declared_at, not the number.
    late = await store.create_incident(incident(START + timedelta(days=8), "late"))
    early = await store.create_incident(incident(START - timedelta(days=1), "early"))
    edge = await store.create_incident(incident(START, "edge"))
    edge.state, edge.resolved_at = State.RESOLVED, START + timedelta(hours=1)
    await store.commit(Change(incident=edge))

    everything = await store.incidents_declared_since(None)
    assert [i.title for i in everything] == ["early", "edge", "late"]

    since = await store.incidents_declared_since(START)
    assert [i.number for i in since] == [edge.number, late.number]
    assert since[0].state is State.RESOLVED
    assert since[0].resolved_at == START + timedelta(hours=1)
    assert since[0].declared_at.tzinfo is not None
    assert early.number not in [i.number for i in since]

    # An offset other than UTC means the same instant.
    other_zone = START.astimezone(datetime.now().astimezone().tzinfo or UTC)
    assert [i.number for i in await store.incidents_declared_since(other_zone)] == [
        edge.number,
        late.number,
    ]
    assert await store.incidents_declared_since(START + timedelta(days=30)) == []
