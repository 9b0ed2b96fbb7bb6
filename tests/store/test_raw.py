"""bot/store/raw.py, the plain-SQL read path of `warroom export` and `warroom report`, agrees
with the SQLModel tables and with SqlStore: same columns and column kinds, equal records
(down to each value's type), byte-identical postmortems, the same rows written."""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import pytest
from postmortem_scenario import GOLDEN, resolved_incident
from sqlalchemy import Boolean, text

from bot.chat.console.chat import ConsoleChat
from bot.core.alerts.groups import AlertGroup
from bot.core.clock import ManualClock
from bot.core.model import Change, EventKind, TimelineEvent
from bot.core.postmortem import render_postmortem
from bot.core.router import Router
from bot.core.service import IncidentService, Invocation
from bot.shipped import migrations_dir
from bot.store import raw
from bot.store.alerts import SqlAlerts
from bot.store.pgwire import wire_params
from bot.store.revision import head_revision
from bot.store.schema import open_store
from bot.store.sql import SqlStore
from bot.store.tables import metadata
from bot.store.types import JSONData, UTCDateTime

# SqlStore reads these tables whole (select(table)) into their dataclass, so the dataclass
# fields must be every column; the other tables are read field by field (sql.py _rows_of).
WHOLE_ROWS = {"incident", "timeline_event", "task"}
READS = [*raw.RECORD_READS]


def _enum_fields(cls: type) -> dict[str, type]:
    hints = typing.get_type_hints(cls)
    found = {}
    for name, hint in hints.items():
        options = typing.get_args(hint) or (hint,)
        enums = [o for o in options if isinstance(o, type) and issubclass(o, Enum)]
        if enums:
            found[name] = enums[0]
    return found


@pytest.mark.parametrize("read", READS, ids=[r.table for r in READS])
def test_each_read_selects_its_tables_columns_with_their_kinds(read: raw.TableRead) -> None:
    table = metadata.tables[read.table]
    names = set(table.c.keys())
    assert set(read.columns) <= names, set(read.columns) - names
    if read.table in WHOLE_ROWS:
        assert set(read.columns) == names
    assert read.where in names and set(read.order) <= names

    def of_kind(kind: type) -> frozenset[str]:
        return frozenset(
            c.name for c in table.c if c.name in read.columns and isinstance(c.type, kind)
        )

    assert read.times == of_kind(UTCDateTime)
    assert read.json == of_kind(JSONData)
    assert read.flags == of_kind(Boolean)
    assert read.enums == _enum_fields(read.cls)


def test_the_report_reads_name_real_columns() -> None:
    incident, groups = metadata.tables["incident"], metadata.tables["alert_group"]
    assert isinstance(incident.c.declared_at.type, UTCDateTime)
    assert isinstance(groups.c.first_alert_at.type, UTCDateTime)
    assert "incident_number" in groups.c
    assert raw.EVENT_COLUMNS == tuple(c for c in raw.TIMELINE.columns if c != "id")


def test_plain_urls_only() -> None:
    assert raw.sqlite_path("sqlite+aiosqlite:////tmp/w.db") == raw.Path("/tmp/w.db")
    assert raw.sqlite_path("sqlite+aiosqlite:///warroom.db") == raw.Path("warroom.db")
    for url in (
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///file:w.db?mode=ro&uri=true",
        "sqlite+aiosqlite:///w%20x.db",
        "sqlite:///w.db",
    ):
        assert raw.sqlite_path(url) is None, url
    assert raw.postgres_dsn("postgresql+asyncpg://u:p@h:5/db") == "postgresql://u:p@h:5/db"
    for url in ("postgresql+asyncpg://h/db?ssl=require", "postgresql+asyncpg://a,b/db"):
        assert raw.postgres_dsn(url) is None, url


# Postgres is read two ways: over asyncpg, and over bot/store/pgwire.py's blocking socket.
BACKENDS = ["sqlite", "postgres", "postgres-wire"]


async def _open_raw(url: str, backend: str) -> Any:
    if (path := raw.sqlite_path(url)) is not None:
        return raw.SqliteRecords(path)
    dsn = raw.postgres_dsn(url)
    assert dsn is not None
    if backend == "postgres-wire":
        params = wire_params(dsn, {})
        assert params is not None, dsn
        return raw.WireRecords.connect(params)
    return await raw.PostgresRecords.connect(dsn)


def _url_of(backend: str, request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{backend.removesuffix('-wire')}_url")


def assert_same(a: object, b: object, where: str = "record") -> None:
    """Equal, and of the same types all the way down (a str where an enum belongs compares
    equal to it, but the renderer would treat it differently)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where  # type: ignore[arg-type]
        for n, (x, y) in enumerate(zip(a, b, strict=True)):  # type: ignore[call-overload]
            assert_same(x, y, f"{where}[{n}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where  # type: ignore[attr-defined]
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")  # type: ignore[index]
    else:
        assert a == b, where
        if isinstance(a, datetime):
            assert a.utcoffset() == b.utcoffset() == timedelta(0), where  # type: ignore[attr-defined]


async def _more_incidents(store: SqlStore) -> int:
    """Beside the golden scenario's INC-1: a private one with a description, alerts on its
    timeline (nested JSON, non-ASCII) and an alert group; and an open one."""
    clock = ManualClock(datetime(2026, 3, 3, 12, 0, tzinfo=UTC))
    router = Router(IncidentService(store, {"console": ConsoleChat(lambda _: None)}, clock))
    await router.handle(Invocation("erin", "console", "general"), "declare sev3 --private Leak ü")
    incident = (await store.list_incidents(include_resolved=True, limit=1))[0]
    assert incident.private
    number = incident.number
    incident.description = "Found by a customer.\nSecond line | pipe"
    at = clock.now() - timedelta(minutes=5)
    alert = TimelineEvent(
        number,
        EventKind.ALERT,
        "alertmanager",
        "Alert firing: HighErrors: 5xx über 2%",
        at,
        at,
        {"status": "firing", "alertname": "HighErrors", "labels": {"team": "ü", "n": [1, 2]}},
        source_key="alert:test:1",
    )
    await store.commit(Change(incident=incident, events=[alert]))
    group = AlertGroup(
        source="alertmanager",
        group_key='{}:{alertname="HighErrors"}',
        receiver="warroom",
        action="declare",
        created_at=at,
        updated_at=at,
        first_alert_at=at - timedelta(minutes=2),
        alertname="HighErrors",
        summary="5xx",
        incident_number=number,
    )
    assert await SqlAlerts(store).create(group) is not None
    clock.advance(minutes=30)
    await router.handle(Invocation("frank", "console", "general"), "declare Search is slow")
    return number


@pytest.mark.parametrize("backend", BACKENDS)
async def test_both_read_paths_give_equal_records_and_identical_postmortems(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = _url_of(backend, request)
    store = await open_store(url)
    records = None
    try:
        scenario = await resolved_incident(store)
        assert await _more_incidents(store) == 2
        service = IncidentService(store, {}, ManualClock())
        records = await _open_raw(url, backend)
        assert await records.revision() == head_revision(migrations_dir() / "versions")
        for number in (1, 2, 3):
            usual = await service.record(number)
            fast = await records.record(number)
            assert_same(fast, usual, f"INC-{number}")
            now = scenario.clock.now() + timedelta(days=1)
            assert render_postmortem(fast, now) == render_postmortem(usual, now)
        golden = (GOLDEN / "postmortem_resolved.md").read_text(encoding="utf-8")
        assert render_postmortem(await records.record(1), scenario.clock.now()) == golden
        assert await records.record(4) is None
        # `warroom report`'s two reads.
        for since in (None, datetime(2026, 3, 3, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)):
            usual_incidents = await store.incidents_declared_since(since)
            assert_same(await records.incidents(since), usual_incidents, f"since {since}")
        numbers = [1, 2, 3]
        assert_same(
            await records.first_alerts(numbers), await SqlAlerts(store).first_alerts(numbers)
        )
        assert await records.first_alerts([1, 3]) == {}
    finally:
        if records is not None:
            await records.close()
        await store.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_event_written_by_the_raw_path_is_stored_as_sqlstore_stores_it(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = _url_of(backend, request)
    store = await open_store(url)
    records = None
    try:
        number = await _more_incidents(store)
        at = datetime(2026, 3, 4, 10, 30, 15, 123456, tzinfo=UTC)
        event = TimelineEvent(
            number, EventKind.POSTMORTEM_EXPORTED, "op", "Postmortem exported to stdout", at, at,
            {"where": "stdout", "ü": [1, None]},
        )  # fmt: skip
        records = await _open_raw(url, backend)
        await records.add_event(event)
        await store.commit(Change(events=[dataclasses.replace(event, actor="usual")]))
        *_, fast, usual = await store.timeline(number)
        assert_same(dataclasses.replace(fast, id=None), event)
        assert_same(dataclasses.replace(usual, id=None, actor="op"), event)
        # Stored alike, not only read back alike (SQLite keeps times and JSON as text).
        async with store.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT occurred_at, recorded_at, kind, data, source_key, deleted_at "
                        "FROM timeline_event WHERE id IN (:a, :b) ORDER BY id"
                    ),
                    {"a": fast.id, "b": usual.id},
                )
            ).all()
        assert rows[0] == rows[1]
    finally:
        if records is not None:
            await records.close()
        await store.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_revision_of_a_database_without_alembic_version_is_none(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = _url_of(backend, request)
    if backend == "sqlite":
        store = SqlStore.from_url(url)  # creates the empty file
        async with store.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE other (x INTEGER)"))
        await store.close()
    records = await _open_raw(url, backend)
    try:
        assert await records.revision() is None
    finally:
        await records.close()
