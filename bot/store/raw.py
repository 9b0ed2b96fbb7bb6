"""An incident's record in plain SQL, for commands that only read (`warroom export`).

A whole `warroom export` process should take less than importing SQLAlchemy and SQLModel
does, so this reads the same tables with the driver alone: the standard library's sqlite3 for
SQLite files; for Postgres a blocking socket (bot/store/pgwire.py, WireRecords), or asyncpg
where that client does not vouch for the connection. It imports neither SQLAlchemy nor
bot/store/tables.py.

The columns are not written out a second time: each table's are the fields of the model
dataclass it becomes, as SqlStore reads them (bot/store/sql.py). What SQLAlchemy's column
types do on the way out is done here per column kind (UTC times, JSON, booleans, enums);
tests/store/test_raw.py checks these lists against the tables' metadata, and that both
read paths give equal records and byte-identical postmortems on SQLite and Postgres.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.model import (
    EventKind,
    Incident,
    IncidentRecord,
    Participant,
    RoleAssignment,
    Severity,
    State,
    StatusUpdate,
    Task,
    TaskState,
    TimelineEvent,
)


@dataclass(frozen=True)
class TableRead:
    """How one table's rows become model objects: `cls`'s fields are the columns selected."""

    table: str
    cls: type
    where: str  # the column holding the incident number
    order: tuple[str, ...]
    times: frozenset[str] = frozenset()  # UTCDateTime columns
    json: frozenset[str] = frozenset()  # JSONData columns
    flags: frozenset[str] = frozenset()  # Boolean columns (0/1 on SQLite)
    enums: dict[str, Callable[[str], Any]] = field(default_factory=dict)

    @functools.cached_property  # once, not per row
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.cls))

    @functools.cached_property
    def selected(self) -> str:
        """The columns, quoted, as a SELECT lists them."""
        return ", ".join(f'"{c}"' for c in self.columns)

    def select(self, placeholder: str) -> str:
        names = self.selected
        order = ", ".join(f'"{c}"' for c in self.order)
        return (
            f'SELECT {names} FROM "{self.table}" WHERE "{self.where}" = {placeholder} '
            f"ORDER BY {order}"
        )

    @functools.cached_property
    def _converters(self) -> tuple[Callable[[Any], Any] | None, ...]:
        """Per column, what turns the driver's value into the model's (None: as it is)."""
        by_name: dict[str, Callable[[Any], Any]] = {
            **dict.fromkeys(self.times, utc),
            **dict.fromkeys(self.json, _json),
            **dict.fromkeys(self.flags, bool),
            **self.enums,
        }
        return tuple(by_name.get(name) for name in self.columns)

    def build(self, row: Sequence[Any]) -> Any:
        # Positional: the columns are the dataclass's fields, in order. One pass per row,
        # since a timeline may have 10,000 of them.
        return self.cls(
            *[v if c is None else c(v) for c, v in zip(self._converters, row, strict=True)]
        )


def _json(value: Any) -> Any:
    # SQLite gives the text, asyncpg a string too (its default jsonb codec); most events'
    # data is empty.
    if not isinstance(value, str):
        return value
    return {} if value == "{}" else json.loads(value)


# In the order of IncidentRecord's fields, each as SqlStore orders it.
INCIDENT = TableRead(
    "incident",
    Incident,
    "number",
    ("number",),
    times=frozenset({"declared_at", "acknowledged_at", "mitigated_at", "resolved_at"}),
    flags=frozenset({"private"}),
    enums={"severity": Severity, "state": State},
)
TIMELINE = TableRead(
    "timeline_event",
    TimelineEvent,
    "incident_number",
    ("occurred_at", "id"),
    times=frozenset({"occurred_at", "recorded_at", "deleted_at"}),
    json=frozenset({"data"}),
    enums={"kind": EventKind},
)
ROLES = TableRead(
    "role_assignment",
    RoleAssignment,
    "incident_number",
    ("id",),
    times=frozenset({"assigned_at"}),
)
PARTICIPANTS = TableRead(
    "participant", Participant, "incident_number", ("id",), times=frozenset({"joined_at"})
)
STATUS_UPDATES = TableRead(
    "status_update",
    StatusUpdate,
    "incident_number",
    ("id",),
    times=frozenset({"posted_at"}),
    enums={"severity": Severity, "state": State},
)
TASKS = TableRead(
    "task",
    Task,
    "incident_number",
    ("position",),
    times=frozenset({"due_at"}),
    enums={"state": TaskState},
)
RECORD_READS = (INCIDENT, TIMELINE, ROLES, PARTICIPANTS, STATUS_UPDATES, TASKS)
# The columns SqlStore.commit writes for an event (all but the id the database assigns).
EVENT_COLUMNS = tuple(c for c in TIMELINE.columns if c != "id")
REVISION_QUERY = "SELECT version_num FROM alembic_version"
# First alert per incident (bot/store/alerts.py first_alerts); the caller keeps the ones it
# asked for, so the statement needs no IN list of every incident number.
FIRST_ALERTS_QUERY = (
    'SELECT "incident_number", min("first_alert_at") FROM "alert_group" '
    'WHERE "incident_number" IS NOT NULL GROUP BY "incident_number"'
)


def incidents_query(placeholder: str | None) -> str:
    """Every incident in declaration order (SqlStore.incidents_declared_since), declared at
    or after the parameter when there is one."""
    names = INCIDENT.selected
    where = f'WHERE "declared_at" >= {placeholder} ' if placeholder else ""
    return f'SELECT {names} FROM "incident" {where}ORDER BY "declared_at", "number"'


def utc(value: Any) -> datetime | None:
    """As UTCDateTime reads it: SQLite keeps naive UTC text, Postgres an aware time."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def record_of(rows: Sequence[Sequence[Sequence[Any]]]) -> IncidentRecord | None:
    """The record from each of RECORD_READS' rows; None when there is no such incident."""
    if not rows[0]:
        return None
    incident = INCIDENT.build(rows[0][0])
    timeline, roles, participants, updates, tasks = (
        [read.build(row) for row in table_rows]
        for read, table_rows in zip(RECORD_READS[1:], rows[1:], strict=True)
    )
    return IncidentRecord(incident, timeline, roles, participants, updates, tasks)


def sqlite_time(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME text, so that ORDER BY occurred_at compares like with like.
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _insert_event(placeholders: Sequence[str]) -> str:
    names = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
    return f'INSERT INTO "timeline_event" ({names}) VALUES ({", ".join(placeholders)})'


def _event_values(event: TimelineEvent, time: Callable[[datetime | None], Any]) -> list[Any]:
    values = []
    for name in EVENT_COLUMNS:
        value = getattr(event, name)
        if name in TIMELINE.times:
            value = time(value)
        elif name in TIMELINE.json:
            value = json.dumps(value)  # SQLAlchemy's JSON serializer: json.dumps as is
        elif name in TIMELINE.enums:
            value = value.value
        values.append(value)
    return values


# -- SQLite ----------------------------------------------------------------------------------
# The methods are coroutines only to share one command implementation with Postgres: they
# never suspend, so bot/readonly.py runs them without an event loop (and without asyncio).

_PLAIN_SQLITE = re.compile(r"^sqlite\+aiosqlite:///(?P<path>[^?#%]+)$")


def sqlite_path(url: str) -> Path | None:
    """The file of a plain `sqlite+aiosqlite:///path` URL; None for anything else (memory,
    `file:` URIs, query options, escapes), which the SQLAlchemy path handles."""
    match = _PLAIN_SQLITE.match(url)
    if match is None:
        return None
    path = match.group("path")
    if path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


class SqliteRecords:
    """An SQLite file, read and appended to with sqlite3 (never created: mode=rw)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=rw", uri=True, isolation_level=None
        )
        # As the bot's engine (bot/store/sql.py make_engine): wait for a writer, enforce keys.
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.execute("PRAGMA foreign_keys=ON")

    async def revision(self) -> str | None:
        try:
            rows = self.conn.execute(REVISION_QUERY).fetchall()
        except sqlite3.OperationalError:  # no such table: not a migrated database
            return None
        return rows[0][0] if len(rows) == 1 else None

    async def record(self, number: int) -> IncidentRecord | None:
        # One read transaction: every table as of the same moment.
        self.conn.execute("BEGIN")
        try:
            rows = [self.conn.execute(r.select("?"), (number,)).fetchall() for r in RECORD_READS]
        finally:
            self.conn.execute("COMMIT")
        return record_of(rows)

    async def incidents(self, since: datetime | None) -> list[Incident]:
        if since is None:
            rows = self.conn.execute(incidents_query(None)).fetchall()
        else:
            rows = self.conn.execute(incidents_query("?"), (sqlite_time(since),)).fetchall()
        return [INCIDENT.build(row) for row in rows]

    async def first_alerts(self, numbers: Sequence[int]) -> dict[int, datetime]:
        return _first_alerts(self.conn.execute(FIRST_ALERTS_QUERY).fetchall(), numbers)

    async def add_event(self, event: TimelineEvent) -> None:
        sql = _insert_event(["?"] * len(EVENT_COLUMNS))
        self.conn.execute(sql, _event_values(event, sqlite_time))

    async def close(self) -> None:
        self.conn.close()


def _first_alerts(rows: Sequence[Sequence[Any]], numbers: Sequence[int]) -> dict[int, datetime]:
    wanted = set(numbers)
    first: dict[int, datetime] = {}
    for number, at in rows:
        if number in wanted and (when := utc(at)) is not None:
            first[number] = when
    return first


# -- Postgres --------------------------------------------------------------------------------

_PLAIN_POSTGRES = re.compile(r"^postgresql\+asyncpg://(?P<rest>[^?#,]*)$")


def postgres_dsn(url: str) -> str | None:
    """The asyncpg DSN of a plain `postgresql+asyncpg://user:pw@host:port/db` URL; None when
    it has query options or several hosts (SQLAlchemy turns those into connect arguments)."""
    match = _PLAIN_POSTGRES.match(url)
    return f"postgresql://{match.group('rest')}" if match else None


def _numbered(count: int) -> list[str]:
    return [f"${n}" for n in range(1, count + 1)]


class PostgresRecords:
    """A Postgres database over one asyncpg connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, dsn: str) -> PostgresRecords:
        import asyncpg  # only Postgres needs it (and asyncio)

        return cls(await asyncpg.connect(dsn))

    async def revision(self) -> str | None:
        import asyncpg

        try:
            rows = await self.conn.fetch(REVISION_QUERY)
        except asyncpg.UndefinedTableError:
            return None
        return rows[0][0] if len(rows) == 1 else None

    async def record(self, number: int) -> IncidentRecord | None:
        async with self.conn.transaction(isolation="repeatable_read", readonly=True):
            rows = [await self.conn.fetch(r.select("$1"), number) for r in RECORD_READS]
        return record_of(rows)

    async def incidents(self, since: datetime | None) -> list[Incident]:
        if since is None:
            rows = await self.conn.fetch(incidents_query(None))
        else:
            rows = await self.conn.fetch(incidents_query("$1"), since)
        return [INCIDENT.build(row) for row in rows]

    async def first_alerts(self, numbers: Sequence[int]) -> dict[int, datetime]:
        return _first_alerts(await self.conn.fetch(FIRST_ALERTS_QUERY), numbers)

    async def add_event(self, event: TimelineEvent) -> None:
        sql = _insert_event(_numbered(len(EVENT_COLUMNS)))
        await self.conn.execute(sql, *_event_values(event, lambda t: t))

    async def close(self) -> None:
        await self.conn.close()


class WireRecords:
    """A Postgres database over bot/store/pgwire.py's blocking connection: no asyncio, no
    asyncpg. Like SqliteRecords, its coroutines never suspend. Each method is one round trip
    (a record's six reads are one simple query, in one read-only transaction)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    def connect(cls, params: Any) -> WireRecords:
        from bot.store.pgwire import PgWire

        return cls(PgWire.connect(params))

    async def revision(self) -> str | None:
        from bot.store.pgwire import PgError

        try:
            (rows,) = self.conn.query(REVISION_QUERY)
        except PgError as error:
            if error.code == "42P01":  # undefined_table: not a migrated database
                return None
            raise
        return rows[0][0] if len(rows) == 1 else None

    async def record(self, number: int) -> IncidentRecord | None:
        # The number is an int: written into the SQL as a literal, so that the transaction
        # and its six reads go in one message.
        literal = str(int(number))
        reads = "; ".join(r.select(literal) for r in RECORD_READS)
        rows = self.conn.query(f"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; {reads}; COMMIT")
        return record_of(rows)

    async def incidents(self, since: datetime | None) -> list[Incident]:
        if since is None:
            (rows,) = self.conn.query(incidents_query(None))
        else:
            (rows,) = self.conn.execute(incidents_query("$1"), [_wire_value(since)])
        return [INCIDENT.build(row) for row in rows]

    async def first_alerts(self, numbers: Sequence[int]) -> dict[int, datetime]:
        (rows,) = self.conn.query(FIRST_ALERTS_QUERY)
        return _first_alerts(rows, numbers)

    async def add_event(self, event: TimelineEvent) -> None:
        sql = _insert_event(_numbered(len(EVENT_COLUMNS)))
        values = _event_values(event, lambda t: t)
        self.conn.execute(sql, [_wire_value(v) for v in values])

    async def close(self) -> None:
        self.conn.close()


def _wire_value(value: Any) -> str | None:
    """A parameter in the text format; the server infers its type from the statement."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a naive time where an aware one belongs")
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"no text form for {type(value).__name__}")
