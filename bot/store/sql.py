"""SqlStore: the Store port over SQLAlchemy's async engine (SQLite or Postgres)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sqlite3
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import (
    Engine,
    bindparam,
    case,
    create_engine,
    event,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

from bot.core.model import (
    Change,
    EventKind,
    Incident,
    MessageRow,
    Participant,
    RoleAssignment,
    Severity,
    State,
    StatusUpdate,
    Task,
    TaskState,
    TimelineEvent,
)
from bot.core.ports import AlreadyHandled
from bot.store import pg_inplace, raw, session, sqlite_driver
from bot.store.outbox import PLACEHOLDER_PREFIX, failed_lines
from bot.store.reminders import failed_reminder_lines
from bot.store.returning import ids_in_order
from bot.store.tables import (
    InboxRow,
    IncidentRow,
    ParticipantRow,
    ProcessedRequestRow,
    RoleAssignmentRow,
    StatusUpdateRow,
    TaskRow,
    TimelineEventRow,
)

I = IncidentRow.__table__  # noqa: E741
EV = TimelineEventRow.__table__
ROLE = RoleAssignmentRow.__table__
PART = ParticipantRow.__table__
TASK = TaskRow.__table__
SU = StatusUpdateRow.__table__
REQ = ProcessedRequestRow.__table__
INBOX = InboxRow.__table__
# Columns the outbox fills in once the platform has answered (a channel created, a message
# posted): a change committed meanwhile from an older read must not put the stand-in back.
_DELIVERED_IDS = ("channel_id", "channel_name", "summary_message_id", "checklist_message_id")

NUMBER_RETRIES = 20


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # pre_ping: after a database restart the pooled connections are dead; check each on
    # checkout so the first command after an outage works instead of failing once. An SQLite
    # file has no server to restart, and there the ping is one more thread hand-off per
    # transaction (every group commit an ack waits for).
    parsed = make_url(url)
    kwargs.setdefault("pool_pre_ping", parsed.get_backend_name() != "sqlite")
    if parsed.drivername == "sqlite+aiosqlite":
        kwargs.setdefault("module", sqlite_driver.dbapi())  # statements on the loop, no threads
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # Enforce foreign keys; WAL lets readers (export, report) run beside the bot.
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


def inline_reader(engine: AsyncEngine) -> Engine | None:
    """For an SQLite file, a plain pysqlite engine on the same file for short reads, run inline
    on the event loop. aiosqlite runs every call (cursor, execute, fetch, close, the rollback
    on return) on a thread of its own, and each of those hand-offs costs far more than the
    query itself (bench/slack_ack.py: 2.6 ms of CPU per `list` through aiosqlite on a loaded
    2-core machine, 0.13 ms inline). With WAL a reader never waits for a writer, so an inline
    read of a few rows does not stall the loop. None where inline_reader_path is."""
    if inline_reader_path(engine) is None:
        return None
    reader = create_engine(engine.url.set(drivername="sqlite"))

    @event.listens_for(reader, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=1000")  # only while a checkpoint holds the file
        cursor.close()

    return reader


class IncidentReader:
    """For an SQLite file, a plain sqlite3 connection for the incident lookups every command
    starts with (by channel, by number, the list). Through SQLAlchemy, even inline, a lookup
    of one row cost 0.2 ms of CPU on the 2-core machine in the execution machinery around
    the statement (0.05 ms in SQLite); `list` at 50 concurrent requests is answered in its
    ack, so every ack behind it waited for that. The rows become Incidents as the export's
    reader makes them (bot/store/raw.py INCIDENT; tests/store/test_raw.py keeps both readers
    equal). Autocommit: each read sees what was committed before it, as the engine's do.
    Connected at the first lookup: a store opened to migrate or to check a file must not
    create it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def incidents(self, sql: str, params: tuple[Any, ...]) -> list[Incident]:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=1000")  # only while a checkpoint holds it
        return [raw.INCIDENT.build(row) for row in self._conn.execute(sql, params)]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def inline_reader_path(engine: AsyncEngine) -> str | None:
    """The SQLite file of the engine; None for in-memory databases (another connection would
    be another database) and for Postgres (asyncpg needs no thread)."""
    url = engine.url
    database = url.database or ""
    if engine.dialect.name != "sqlite" or database in ("", ":memory:"):
        return None
    if url.query.get("mode") == "memory" or database.startswith("file::memory:"):
        return None
    return database


_RAW_INCIDENT = raw.INCIDENT.select("?")
_RAW_BY_CHANNEL = (
    f'SELECT {raw.INCIDENT.selected} FROM "incident" WHERE "platform" = ? AND "channel_id" = ?'
)
_RAW_NEWEST = (
    f'SELECT {raw.INCIDENT.selected} FROM "incident" {{where}}ORDER BY "number" DESC LIMIT ?'
)
_RAW_ALL = _RAW_NEWEST.format(where="")
_RAW_OPEN = _RAW_NEWEST.format(where=f"WHERE \"state\" != '{State.RESOLVED.value}' ")


def _incident(row: Any) -> Incident:
    values = dict(row._mapping)
    values["severity"] = Severity(values["severity"])
    values["state"] = State(values["state"])
    return Incident(**values)


def _event(row: Any) -> TimelineEvent:
    values = dict(row._mapping)
    values["kind"] = EventKind(values["kind"])
    return TimelineEvent(**values)


def _task(row: Any) -> Task:
    values = dict(row._mapping)
    values["state"] = TaskState(values["state"])
    return Task(**values)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _row(obj: Any, *, drop: Sequence[str] = ()) -> dict[str, Any]:
    # Enums are stored by value: plain strings keep migrations and ad-hoc SQL simple.
    return {
        name: (value.value if isinstance(value, Enum) else value)
        for name in _field_names(type(obj))
        if name not in drop
        for value in (getattr(obj, name),)
    }


class _Reads:
    """The statements every command runs, built once."""

    def __init__(self) -> None:
        by_number = I.c.number == bindparam("number")
        self.incident = select(I).where(by_number)
        self.incident_by_channel = select(I).where(
            I.c.platform == bindparam("platform"), I.c.channel_id == bindparam("channel_id")
        )
        newest = select(I).order_by(I.c.number.desc()).limit(bindparam("limit"))
        self.all_incidents = newest
        self.open_incidents = newest.where(I.c.state != State.RESOLVED.value)
        self.tasks = (
            select(TASK)
            .where(TASK.c.incident_number == bindparam("number"))
            .order_by(TASK.c.position)
        )
        self.event = select(EV).where(EV.c.source_key == bindparam("source_key"))
        # Bulk reads over many incidents (a batch of due reminders): `numbers` expands.
        numbers = bindparam("numbers", expanding=True)
        self.incidents_in = select(I).where(I.c.number.in_(numbers))
        self.tasks_in = (
            select(TASK)
            .where(TASK.c.incident_number.in_(numbers))
            .order_by(TASK.c.incident_number, TASK.c.position)
        )
        self.roles_in = (
            select(*[ROLE.c[f.name] for f in dataclasses.fields(RoleAssignment)])
            .where(ROLE.c.incident_number.in_(numbers))
            .order_by(ROLE.c.id)
        )
        self.updated_in = (
            select(SU.c.incident_number).where(SU.c.incident_number.in_(numbers)).distinct()
        )


_READS = _Reads()


def _create_incident(dialect_insert: Any) -> Executable:
    """max+1 as a sub-select of the INSERT; a number a concurrent declaration took meanwhile
    inserts nothing (ON CONFLICT DO NOTHING) and the caller takes the next. Not an error: on
    Postgres an error inside the command's transaction would need a savepoint around every
    attempt (SAVEPOINT and RELEASE: two round trips more per declaration)."""
    return (
        dialect_insert(I)
        .values(number=select(func.coalesce(func.max(I.c.number), 0) + 1).scalar_subquery())
        .on_conflict_do_nothing(index_elements=["number"])
        .returning(I.c.number)
    )


# Built once (building a statement costs more than running it on SQLite): the changes every
# command writes, each column a parameter of its own name.
_INSERT_ROLES = insert(ROLE)
_INSERT_UPDATES = insert(SU)
_UPDATE_TASK = (
    update(TASK)
    .where(TASK.c.id == bindparam("_id"))
    .values({n: bindparam(n, type_=TASK.c[n].type) for n in _field_names(Task) if n != "id"})
)


@functools.cache
def _update_incident(stand_ins: frozenset[str]) -> Executable:
    """The incident's UPDATE, every column but its number a parameter of its name; a column in
    `stand_ins` holds an outbox stand-in and is written only over nothing or another stand-in
    (the delivered id the outbox may have written meanwhile stays)."""
    values: dict[str, Any] = {}
    for name in _field_names(Incident):  # the columns `_row` writes
        if name == "number":
            continue
        c = I.c[name]
        value = bindparam(name, type_=c.type)
        if name in stand_ins:
            value = case((c.is_(None), value), (c.like(PLACEHOLDER_PREFIX + "%"), value), else_=c)
        values[c.name] = value
    return update(I).where(I.c.number == bindparam("_number")).values(values)


# Matched back by their unique place: asking for RETURNING in parameter order would make
# SQLAlchemy insert one row at a time on SQLite (no sentinel to sort by).
_INSERT_TASKS = insert(TASK).returning(TASK.c.id, TASK.c.incident_number, TASK.c.position)
# The same INSERTs' ON CONFLICT and RETURNING as SQL, for pg_inplace.execute_insert (on
# Postgres, a command's INSERTs through asyncpg alone: 0.2 ms less per statement).
_TASKS_SQL = "RETURNING id, incident_number, position"
_EVENTS_SQL = "ON CONFLICT (source_key) DO NOTHING RETURNING id, source_key"
_PARTICIPANTS_SQL = 'ON CONFLICT (incident_number, "user") DO NOTHING'


@functools.cache
def _rows_of(cls: type, table: Any) -> Executable:
    """An incident's rows of `table` as `cls` fields, in insertion order (built once)."""
    columns = [table.c[f.name] for f in dataclasses.fields(cls)]
    query = select(*columns).where(table.c.incident_number == bindparam("number"))
    return query.order_by(table.c.id)


class SqlStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._reader = inline_reader(engine)  # short reads on SQLite; see inline_reader
        path = inline_reader_path(engine)  # incident lookups on SQLite: see IncidentReader
        self._incidents = IncidentReader(path) if path is not None else None
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._create_incident = _create_incident(self._insert)
        # Built once: the ingest path runs them for every batch. A message's kind and (empty)
        # data are constants in the SQL, not parameters encoded again for every row.
        self._insert_messages = (
            self._insert(EV)
            .values(
                kind=literal_column(f"'{EventKind.MESSAGE.value}'"),
                data=literal_column("'{}'"),
            )
            .on_conflict_do_nothing(index_elements=["source_key"])
            .returning(EV.c.source_key)
        )
        self._insert_keyed_events = (
            self._insert(EV)
            .on_conflict_do_nothing(index_elements=["source_key"])
            .returning(EV.c.id, EV.c.source_key)
        )
        self._insert_participants = self._insert(PART).on_conflict_do_nothing(
            index_elements=["incident_number", "user"]
        )

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SqlStore:
        return cls(make_engine(url, **kwargs))

    async def create_incident(self, incident: Incident) -> Incident:
        values = _row(incident, drop=("number",))
        # max+1 under the primary key: a number a concurrent writer took inserts nothing, and
        # we simply take the next one.
        for _ in range(NUMBER_RETRIES):
            async with session.begin(self.engine) as conn:
                # One statement: the number is a sub-select of the INSERT.
                number = (await conn.execute(self._create_incident, values)).scalar()
            if number is not None:
                return dataclasses.replace(incident, number=number)
        raise RuntimeError(f"could not allocate an incident number in {NUMBER_RETRIES} tries")

    @contextlib.asynccontextmanager
    async def transaction(self, inbox_key: str | None = None) -> AsyncIterator[Any]:
        async with session.transaction(self.engine) as tx:
            if inbox_key is not None:
                # First statement: on Postgres it locks the row, so a second replica handling
                # the same item waits here and then finds it done.
                done = await tx.conn.execute(
                    update(INBOX)
                    .where(INBOX.c.key == inbox_key, INBOX.c.state == "pending")
                    .values(state="done", processed_at=func.now())
                    .returning(INBOX.c.id)
                )
                if done.first() is None:
                    exists = await tx.conn.execute(
                        select(INBOX.c.id).where(INBOX.c.key == inbox_key)
                    )
                    if exists.first() is not None:
                        raise AlreadyHandled(inbox_key)
                    # Not in the inbox (a path that records nothing first): claim the key.
                    await tx.conn.execute(
                        insert(INBOX).values(
                            key=inbox_key,
                            platform=inbox_key.split(":", 1)[0],
                            kind="direct",
                            payload={},
                            received_at=func.now(),
                            state="done",
                            processed_at=func.now(),
                        )
                    )
            yield tx

    def in_transaction(self) -> bool:
        # Inside transaction() every write waits for its commit, and a failure discards them all.
        return session.ambient(self.engine) is not None

    async def undelivered(self, number: int) -> list[str]:
        async with session.connect(self.engine) as conn:
            incident = (
                await conn.execute(select(I.c.channel_id).where(I.c.number == number))
            ).first()
            if incident is None:
                return []
            lines = await failed_lines(conn, incident.channel_id) if incident.channel_id else []
            return lines + await failed_reminder_lines(conn, number)

    async def commit(self, change: Change) -> list[TimelineEvent]:
        async with session.begin(self.engine) as conn:
            if change.incident is not None:
                values: dict[str, Any] = _row(change.incident, drop=("number",))
                # Stand-ins keep what the outbox wrote, if it already delivered.
                stand_ins = frozenset(
                    column
                    for column in _DELIVERED_IDS
                    if isinstance(values[column], str)
                    and values[column].startswith(PLACEHOLDER_PREFIX)
                )
                values["_number"] = change.incident.number
                await conn.execute(_update_incident(stand_ins), values)
            recorded = await self._insert_events(conn, change.events)
            if change.roles:
                await pg_inplace.execute_insert(
                    conn, _INSERT_ROLES, [_row(r) for r in change.roles]
                )
            if change.participants:
                rows = [_row(p) for p in change.participants]
                await pg_inplace.execute_insert(
                    conn, self._insert_participants, rows, _PARTICIPANTS_SQL
                )
            if change.status_updates:
                rows = [_row(u) for u in change.status_updates]
                await pg_inplace.execute_insert(conn, _INSERT_UPDATES, rows)
            await self._save_tasks(conn, change.tasks)
        return recorded

    async def record_messages(
        self,
        messages: Sequence[MessageRow],
        participants: Sequence[Participant] = (),
        inbox_keys: Sequence[str] = (),
    ) -> list[bool]:
        if not messages and not participants and not inbox_keys:
            return []
        # Rows straight from the tuples: no TimelineEvent to build, convert and copy back.
        rows = [
            {
                "incident_number": m.incident_number,
                "occurred_at": m.occurred_at,
                "recorded_at": m.recorded_at,
                "actor": m.actor,
                "text": m.text,
                "source_key": m.source_key,
            }
            for m in messages
        ]
        async with session.begin(self.engine) as conn:
            inserted: list[str | None] = []
            if rows:
                # RETURNING names the rows actually inserted (rowcount is unreliable after an
                # executemany with ON CONFLICT DO NOTHING); the key alone is enough.
                result = await conn.execute(self._insert_messages, rows)
                inserted = list(result.scalars())
            if participants:
                await conn.execute(self._insert_participants, [_row(p) for p in participants])
            if inbox_keys:
                await conn.execute(
                    update(INBOX)
                    .where(INBOX.c.key.in_(list(inbox_keys)), INBOX.c.state == "pending")
                    .values(state="done", processed_at=func.now())
                )
        if len(inserted) == len(rows):
            return [True] * len(rows)  # the usual case: nothing was a duplicate
        # Keyless messages are always inserted; a key counts for its first message only.
        new_keys = set(inserted)
        recorded = []
        for m in messages:
            key = m.source_key
            if key is None:
                recorded.append(True)
            elif key in new_keys:
                new_keys.discard(key)
                recorded.append(True)
            else:
                recorded.append(False)
        return recorded

    async def insert_events(
        self, conn: AsyncConnection, events: list[TimelineEvent]
    ) -> list[TimelineEvent]:
        """Timeline events inside a caller's transaction (alert groups, bot/store/alerts.py)."""
        return await self._insert_events(conn, events)

    async def _insert_events(
        self, conn: AsyncConnection, events: list[TimelineEvent]
    ) -> list[TimelineEvent]:
        if not events:
            return []
        # One cached statement run as executemany: SQLAlchemy batches it into multi-row
        # INSERTs ("insertmanyvalues"), far cheaper than compiling a new VALUES list per batch.
        # RETURNING names the rows actually inserted; rowcount is unreliable after
        # ON CONFLICT DO NOTHING.
        values = [_row(e, drop=("id",)) for e in events]
        rows = await pg_inplace.execute_insert(conn, self._insert_keyed_events, values, _EVENTS_SQL)
        # Only ids and keys come back (decoding whole rows again cost a third of ingest time).
        # Keyed events are matched by key; keyless ones are never skipped, and get their ids
        # in insertion order.
        ids = ids_in_order(rows, [e.source_key for e in events])
        return [
            dataclasses.replace(item, id=id_)
            for item, id_ in zip(events, ids, strict=True)
            if id_ is not None
        ]

    async def _save_tasks(self, conn: AsyncConnection, tasks: Sequence[Task]) -> None:
        """Changed tasks one UPDATE each, in order; then the new ones in one multi-row INSERT
        (a checklist's tasks, by insertmanyvalues), whose ids are written back to them."""
        new = [task for task in tasks if task.id is None]
        for task in tasks:
            if task.id is not None:
                await conn.execute(_UPDATE_TASK, _row(task, drop=("id",)) | {"_id": task.id})
        if new:
            values = [_row(task, drop=("id",)) for task in new]
            rows = await pg_inplace.execute_insert(conn, _INSERT_TASKS, values, _TASKS_SQL)
            ids = {(number, position): id_ for id_, number, position in rows}
            for task in new:
                task.id = ids[task.incident_number, task.position]

    async def _read(self, query: Executable, params: dict[str, Any] | None = None) -> Sequence[Any]:
        """Rows of a short read (a few rows by key or with a limit): inline on SQLite files,
        through the async engine otherwise. Long reads (a whole timeline) use the engine.
        The hot statements are built once (_READS): building one per call cost more CPU
        than running it."""
        # Inside a handling task's transaction the read must see that transaction's writes,
        # so it joins it (bot/store/session.py) once it has written; reads outside one, or
        # before its first write, go inline.
        if self._reader is not None and self._inline_now():
            with self._reader.connect() as conn:
                return conn.execute(query, params).all()
        async with session.connect(self.engine) as conn:
            return (await conn.execute(query, params)).all()

    def _inline_now(self) -> bool:
        """May a read skip the ambient transaction (on SQLite)? Outside one, or before it has
        written anything: then it would read what is committed, as another connection does
        (a command reads its incident first: 0.3 ms less before its post)."""
        tx = session.ambient(self.engine)
        return tx is None or not sqlite_driver.has_written(tx.conn)

    def _raw_incidents(self, sql: str, params: tuple[Any, ...]) -> list[Incident] | None:
        """Incidents read with sqlite3 alone, outside a transaction or before it wrote;
        None: use the engine."""
        if self._incidents is None or not self._inline_now():
            return None
        return self._incidents.incidents(sql, params)

    async def get_incident(self, number: int) -> Incident | None:
        found = self._raw_incidents(_RAW_INCIDENT, (number,))
        if found is not None:
            return found[0] if found else None
        rows = await self._read(_READS.incident, {"number": number})
        return _incident(rows[0]) if rows else None

    async def incident_by_channel(self, platform: str, channel_id: str) -> Incident | None:
        found = self._raw_incidents(_RAW_BY_CHANNEL, (platform, channel_id))
        if found is not None:
            return found[0] if found else None
        rows = await self._read(
            _READS.incident_by_channel, {"platform": platform, "channel_id": channel_id}
        )
        return _incident(rows[0]) if rows else None

    async def list_incidents(
        self, *, include_resolved: bool = False, limit: int = 50
    ) -> list[Incident]:
        query = _READS.all_incidents if include_resolved else _READS.open_incidents
        if limit > 1000:  # the console's start reads every open incident: not a short read
            async with session.connect(self.engine) as conn:
                return [_incident(r) for r in await conn.execute(query, {"limit": limit})]
        found = self._raw_incidents(_RAW_ALL if include_resolved else _RAW_OPEN, (limit,))
        if found is not None:
            return found
        return [_incident(r) for r in await self._read(query, {"limit": limit})]

    async def incidents_declared_since(self, since: datetime | None) -> list[Incident]:
        query = select(I).order_by(I.c.declared_at, I.c.number)
        if since is not None:
            query = query.where(I.c.declared_at >= since)
        async with session.connect(self.engine) as conn:
            return [_incident(r) for r in await conn.execute(query)]

    async def timeline(self, number: int, *, last: int | None = None) -> list[TimelineEvent]:
        query = select(EV).where(EV.c.incident_number == number)
        if last is None:
            query = query.order_by(EV.c.occurred_at, EV.c.id)
        else:
            query = query.order_by(EV.c.occurred_at.desc(), EV.c.id.desc()).limit(last)
        if last is None:  # the whole timeline: maybe 10,000 events, not for the loop
            async with session.connect(self.engine) as conn:
                return [_event(r) for r in await conn.execute(query)]
        return [_event(r) for r in await self._read(query)][::-1]

    async def roles(self, number: int) -> list[RoleAssignment]:
        return await self._fetch(RoleAssignment, ROLE, number)

    async def participants(self, number: int) -> list[Participant]:
        return await self._fetch(Participant, PART, number)

    async def status_updates(self, number: int) -> list[StatusUpdate]:
        updates = await self._fetch(StatusUpdate, SU, number)
        for u in updates:
            u.severity, u.state = Severity(u.severity), State(u.state)
        return updates

    async def tasks(self, number: int) -> list[Task]:
        return [_task(r) for r in await self._read(_READS.tasks, {"number": number})]

    async def incidents_by_number(self, numbers: Collection[int]) -> dict[int, Incident]:
        if not numbers:
            return {}
        rows = await self._read(_READS.incidents_in, {"numbers": list(numbers)})
        return {row.number: _incident(row) for row in rows}

    async def roles_by_incident(self, numbers: Collection[int]) -> dict[int, list[RoleAssignment]]:
        found: dict[int, list[RoleAssignment]] = {}
        if numbers:
            for row in await self._read(_READS.roles_in, {"numbers": list(numbers)}):
                found.setdefault(row.incident_number, []).append(
                    RoleAssignment(**dict(row._mapping))
                )
        return found

    async def tasks_by_incident(self, numbers: Collection[int]) -> dict[int, list[Task]]:
        found: dict[int, list[Task]] = {}
        if numbers:
            for row in await self._read(_READS.tasks_in, {"numbers": list(numbers)}):
                found.setdefault(row.incident_number, []).append(_task(row))
        return found

    async def with_status_updates(self, numbers: Collection[int]) -> set[int]:
        if not numbers:
            return set()
        rows = await self._read(_READS.updated_in, {"numbers": list(numbers)})
        return {row.incident_number for row in rows}

    async def _fetch(self, cls: type, table: Any, number: int) -> list[Any]:
        query = _rows_of(cls, table)
        return [cls(**dict(r._mapping)) for r in await self._read(query, {"number": number})]

    async def claim_request(self, key: str, now: datetime) -> bool:
        async with session.begin(self.engine) as conn:
            statement = (
                self._insert(REQ)
                .values(key=key, created_at=now)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(REQ.c.key)
            )
            return (await conn.execute(statement)).first() is not None

    async def get_event(self, source_key: str) -> TimelineEvent | None:
        rows = await self._read(_READS.event, {"source_key": source_key})
        return _event(rows[0]) if rows else None

    async def update_event(
        self,
        source_key: str,
        *,
        text: str | None = None,
        deleted_at: datetime | None = None,
        data: dict[str, object] | None = None,
    ) -> TimelineEvent | None:
        async with session.begin(self.engine) as conn:
            query = select(EV).where(EV.c.source_key == source_key)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update()  # merging data is read-modify-write
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            event_ = _event(row)
            values: dict[str, Any] = {}
            if text is not None:
                values["text"] = event_.text = text
            if deleted_at is not None:
                values["deleted_at"] = event_.deleted_at = deleted_at
            if data:
                values["data"] = event_.data = {**event_.data, **data}
            if values:
                await conn.execute(update(EV).where(EV.c.id == event_.id).values(**values))
            return event_

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.dispose()
        if self._incidents is not None:
            self._incidents.close()
        await self.engine.dispose()
