"""The AlertStore port (bot/core/alerts/ports.py) over SQL, and in memory for tests."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.core.alerts.groups import AlertGroup, AlertRow
from bot.core.alerts.model import AlertStatus
from bot.core.alerts.ports import Stored
from bot.core.model import Change, Incident, Severity, State, TimelineEvent
from bot.store.memory import MemoryStore
from bot.store.sql import I, SqlStore
from bot.store.tables import AlertGroupRow, AlertRowRow

G = AlertGroupRow.__table__
A = AlertRowRow.__table__
_GROUP_FIELDS = tuple(
    f.name for f in dataclasses.fields(AlertGroup) if f.name not in ("id", "revision")
)
_GROUP_COLUMNS = (*_GROUP_FIELDS, "revision", "id")
_INCIDENT_COLUMNS = tuple(c.name for c in I.c)
_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(AlertRow))


MAX_BATCH = 200  # saves per transaction
CACHED_GROUPS = 2_000


@dataclasses.dataclass
class _Save:
    group: AlertGroup
    rows: list[AlertRow]
    events: list[TimelineEvent]
    create: bool = False  # a new group: insert it, and answer its id


def _settle(
    future: asyncio.Future[Any], result: Any = None, *, error: BaseException | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _incident_from(values: dict[str, Any]) -> Incident:
    return Incident(
        **{**values, "severity": Severity(values["severity"]), "state": State(values["state"])}
    )


def _group(row: Any) -> AlertGroup:
    return AlertGroup(**dict(row._mapping))


def _alert(row: Any) -> AlertRow:
    values = dict(row._mapping)
    values.pop("id")
    values["status"] = AlertStatus(values["status"])
    return AlertRow(**values)


def _group_values(group: AlertGroup) -> dict[str, Any]:
    return {name: getattr(group, name) for name in _GROUP_FIELDS}


def _row_values(row: AlertRow) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in _ROW_FIELDS}
    values["status"] = row.status.value
    return values


class SqlAlerts:
    """Alert groups over SQL, next to the SqlStore whose timeline it writes alert entries to
    (in the same transaction as the alert rows: one commit per notification)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.engine = engine = store.engine
        self._queue: list[tuple[_Save, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        # Alerts of recently seen groups by id, with the group revision they belong to: a
        # notification then reads one row (the group) instead of all its alerts.
        self._cache: OrderedDict[int, tuple[int, dict[str, AlertRow]]] = OrderedDict()
        self._incident_columns = [c.label(f"inc_{c.name}") for c in I.c]
        self._update_group = (
            update(G)
            .where(G.c.id == bindparam("_id"))
            .values({name: bindparam(f"_{name}") for name in (*_GROUP_FIELDS, "revision")})
        )
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._insert_group = (
            insert(G)
            .on_conflict_do_nothing(index_elements=["source", "group_key", "generation"])
            .returning(G.c.id)
        )
        upsert = insert(A)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=["group_id", "fingerprint"],
            set_={
                name: upsert.excluded[name]
                for name in _ROW_FIELDS
                if name not in ("group_id", "fingerprint")
            },
        )

    async def _with_alerts(self, where: Any) -> Stored | None:
        async with self.engine.connect() as conn:
            # The group and its incident in one statement: the common case reads nothing else.
            found = (
                await conn.execute(
                    select(G, *self._incident_columns)
                    .select_from(G.outerjoin(I, G.c.incident_number == I.c.number))
                    .where(where)
                    .order_by(G.c.generation.desc())
                    .limit(1)
                )
            ).first()
            if found is None:
                return None
            values = found._mapping
            group = AlertGroup(**{name: values[name] for name in _GROUP_COLUMNS})
            incident = None
            if values["inc_number"] is not None:
                incident = _incident_from({c: values[f"inc_{c}"] for c in _INCIDENT_COLUMNS})
            cached = self._cache.get(group.id)  # type: ignore[arg-type]
            if cached is not None and cached[0] == group.revision:
                # Nobody saved the group since we last did: its alerts are what we hold.
                self._cache.move_to_end(group.id)  # type: ignore[arg-type]
                return group, list(cached[1].values()), incident
            rows = [
                _alert(r)
                for r in (await conn.execute(select(A).where(A.c.group_id == group.id))).all()
            ]
        self._remember(group.id, group.revision, {r.fingerprint: r for r in rows})  # type: ignore[arg-type]
        return group, rows, incident

    def _remember(self, group_id: int, revision: int, rows: dict[str, AlertRow]) -> None:
        self._cache[group_id] = (revision, rows)
        self._cache.move_to_end(group_id)
        while len(self._cache) > CACHED_GROUPS:
            self._cache.popitem(last=False)

    async def load(self, source: str, group_key: str) -> Stored | None:
        return await self._with_alerts((G.c.source == source) & (G.c.group_key == group_key))

    async def get(self, group_id: int) -> Stored | None:
        return await self._with_alerts(G.c.id == group_id)

    async def create(self, group: AlertGroup) -> AlertGroup | None:
        group_id = await self._submit(_Save(copy.copy(group), [], [], create=True))
        if group_id is None:
            return None  # another process created this (source, group_key, generation)
        return dataclasses.replace(group, id=group_id)

    async def save(
        self, group: AlertGroup, rows: Sequence[AlertRow], events: Sequence[TimelineEvent] = ()
    ) -> list[TimelineEvent]:
        recorded = await self._submit(_Save(copy.copy(group), list(rows), list(events)))
        group.revision += 1
        return recorded  # type: ignore[no-any-return]

    async def _submit(self, save: _Save) -> Any:
        # Group commit: writes that arrive while a commit is in flight go together in the next
        # transaction, so a burst of notifications costs a few commits, not one each.
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((save, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                results = await self._commit([save for save, _ in batch])
            except Exception as error:
                if len(batch) == 1:
                    _settle(batch[0][1], error=error)
                    continue
                # One bad save must not fail the others: each on its own.
                for save, future in batch:
                    try:
                        _settle(future, (await self._commit([save]))[0])
                    except Exception as single:
                        _settle(future, error=single)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                _settle(future, result)

    async def _commit(self, batch: list[_Save]) -> list[Any]:
        """One transaction for the batch: new groups (their ids, or None when taken), then
        updates, alert rows and timeline events (what each save recorded)."""
        creates = [save for save in batch if save.create]
        saves = [save for save in batch if not save.create]
        ids: dict[int, int | None] = {}
        async with self.engine.begin() as conn:
            for save in creates:
                result = await conn.execute(self._insert_group.values(**_group_values(save.group)))
                ids[id(save)] = result.scalar()
            if saves:
                await conn.execute(
                    self._update_group,
                    [
                        {
                            **{f"_{k}": v for k, v in _group_values(save.group).items()},
                            "_revision": save.group.revision + 1,
                            "_id": save.group.id,
                        }
                        for save in saves
                    ],
                )
            rows = [_row_values(r) for save in saves for r in save.rows]
            if rows:
                await conn.execute(self._upsert, rows)
            events = [e for save in saves for e in save.events]
            recorded = await self.store.insert_events(conn, events) if events else []
        for save in creates:
            if ids[id(save)] is not None:
                self._remember(ids[id(save)], 0, {})  # type: ignore[arg-type]
        for save in saves:
            self._saved(save)
        # Alert events all have source keys: hand each save back what it recorded.
        by_key = {e.source_key: e for e in recorded}
        return [
            ids[id(save)]
            if save.create
            else [by_key[e.source_key] for e in save.events if e.source_key in by_key]
            for save in batch
        ]

    def _saved(self, save: _Save) -> None:
        """Keep the cached alerts of a saved group current (or forget them)."""
        group_id = save.group.id
        assert group_id is not None
        cached = self._cache.get(group_id)
        if cached is None or cached[0] != save.group.revision:
            self._cache.pop(group_id, None)
            return
        rows = cached[1]
        for row in save.rows:
            rows[row.fingerprint] = row
        self._remember(group_id, save.group.revision + 1, rows)

    async def groups_of(self, incident_number: int) -> list[AlertGroup]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(G).where(G.c.incident_number == incident_number).order_by(G.c.id)
                )
            ).all()
        return [_group(r) for r in rows]

    async def first_alerts(self, incident_numbers: Sequence[int]) -> dict[int, datetime]:
        if not incident_numbers:
            return {}
        statement = (
            select(G.c.incident_number, func.min(G.c.first_alert_at))
            .where(G.c.incident_number.in_(list(incident_numbers)))
            .group_by(G.c.incident_number)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        # min() over a TypeDecorator column comes back raw on SQLite: normalise it.
        return {number: _utc(when) for number, when in rows}


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class MemoryAlerts:
    """Same contract in memory (one asyncio thread: nothing interleaves inside a call)."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self._groups: dict[int, AlertGroup] = {}
        self._rows: dict[int, dict[str, AlertRow]] = {}
        self._ids = itertools.count(1)

    async def _pair(self, group: AlertGroup) -> Stored:
        assert group.id is not None
        number = group.incident_number
        incident = await self.store.get_incident(number) if number is not None else None
        return copy.deepcopy(group), copy.deepcopy(list(self._rows[group.id].values())), incident

    async def load(self, source: str, group_key: str) -> Stored | None:
        found = [g for g in self._groups.values() if (g.source, g.group_key) == (source, group_key)]
        return await self._pair(max(found, key=lambda g: g.generation)) if found else None

    async def get(self, group_id: int) -> Stored | None:
        group = self._groups.get(group_id)
        return await self._pair(group) if group else None

    async def create(self, group: AlertGroup) -> AlertGroup | None:
        key = (group.source, group.group_key, group.generation)
        if any((g.source, g.group_key, g.generation) == key for g in self._groups.values()):
            return None
        stored = dataclasses.replace(copy.deepcopy(group), id=next(self._ids))
        self._groups[stored.id] = stored  # type: ignore[index]
        self._rows[stored.id] = {}  # type: ignore[index]
        return copy.deepcopy(stored)

    async def save(
        self, group: AlertGroup, rows: Sequence[AlertRow], events: Sequence[TimelineEvent] = ()
    ) -> list[TimelineEvent]:
        assert group.id in self._groups
        # The events first: the store checks them before changing anything.
        recorded = await self.store.commit(Change(events=list(events))) if events else []
        group.revision += 1
        self._groups[group.id] = copy.deepcopy(group)
        for row in rows:
            self._rows[row.group_id][row.fingerprint] = copy.deepcopy(row)
        return recorded

    async def groups_of(self, incident_number: int) -> list[AlertGroup]:
        return [
            copy.deepcopy(g) for g in self._groups.values() if g.incident_number == incident_number
        ]

    async def first_alerts(self, incident_numbers: Sequence[int]) -> dict[int, datetime]:
        wanted = set(incident_numbers)
        first: dict[int, datetime] = {}
        for g in self._groups.values():
            n = g.incident_number
            if n in wanted and (n not in first or g.first_alert_at < first[n]):
                first[n] = g.first_alert_at
        return first
