"""The AlertStore port (bot/core/alerts/ports.py) over SQL, and in memory for tests."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.alerts.groups import AlertGroup, AlertRow
from bot.core.alerts.model import AlertStatus
from bot.store.tables import AlertGroupRow, AlertRowRow

G = AlertGroupRow.__table__
A = AlertRowRow.__table__
_GROUP_FIELDS = tuple(f.name for f in dataclasses.fields(AlertGroup) if f.name != "id")
_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(AlertRow))


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
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        upsert = insert(A)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=["group_id", "fingerprint"],
            set_={
                name: upsert.excluded[name]
                for name in _ROW_FIELDS
                if name not in ("group_id", "fingerprint")
            },
        )

    async def _with_alerts(self, where: Any) -> tuple[AlertGroup, list[AlertRow]] | None:
        async with self.engine.connect() as conn:
            found = (
                await conn.execute(select(G).where(where).order_by(G.c.generation.desc()).limit(1))
            ).first()
            if found is None:
                return None
            group = _group(found)
            rows = (await conn.execute(select(A).where(A.c.group_id == group.id))).all()
        return group, [_alert(r) for r in rows]

    async def load(self, source: str, group_key: str) -> tuple[AlertGroup, list[AlertRow]] | None:
        return await self._with_alerts((G.c.source == source) & (G.c.group_key == group_key))

    async def get(self, group_id: int) -> tuple[AlertGroup, list[AlertRow]] | None:
        return await self._with_alerts(G.c.id == group_id)

    async def create(self, group: AlertGroup) -> AlertGroup | None:
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    G.insert().values(**_group_values(group)).returning(G.c.id)
                )
                group_id = result.scalar_one()
        except IntegrityError:
            return None
        return dataclasses.replace(group, id=group_id)

    async def save(self, group: AlertGroup, rows: Sequence[AlertRow]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(G).where(G.c.id == group.id).values(**_group_values(group)))
            if rows:
                await conn.execute(self._upsert, [_row_values(r) for r in rows])

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

    def __init__(self) -> None:
        self._groups: dict[int, AlertGroup] = {}
        self._rows: dict[int, dict[str, AlertRow]] = {}
        self._ids = itertools.count(1)

    def _pair(self, group: AlertGroup) -> tuple[AlertGroup, list[AlertRow]]:
        assert group.id is not None
        return copy.deepcopy(group), copy.deepcopy(list(self._rows[group.id].values()))

    async def load(self, source: str, group_key: str) -> tuple[AlertGroup, list[AlertRow]] | None:
        found = [g for g in self._groups.values() if (g.source, g.group_key) == (source, group_key)]
        return self._pair(max(found, key=lambda g: g.generation)) if found else None

    async def get(self, group_id: int) -> tuple[AlertGroup, list[AlertRow]] | None:
        group = self._groups.get(group_id)
        return self._pair(group) if group else None

    async def create(self, group: AlertGroup) -> AlertGroup | None:
        key = (group.source, group.group_key, group.generation)
        if any((g.source, g.group_key, g.generation) == key for g in self._groups.values()):
            return None
        stored = dataclasses.replace(copy.deepcopy(group), id=next(self._ids))
        self._groups[stored.id] = stored  # type: ignore[index]
        self._rows[stored.id] = {}  # type: ignore[index]
        return copy.deepcopy(stored)

    async def save(self, group: AlertGroup, rows: Sequence[AlertRow]) -> None:
        assert group.id in self._groups
        self._groups[group.id] = copy.deepcopy(group)
        for row in rows:
            self._rows[row.group_id][row.fingerprint] = copy.deepcopy(row)

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
