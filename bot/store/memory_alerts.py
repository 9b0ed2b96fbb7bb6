"""The AlertStore port in memory, with the keyed lookups the SQL one has: groups by
(source, group_key) and by incident, a service's open incident by service."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime

from bot.core.alerts.groups import AlertGroup, AlertRow
from bot.core.alerts.ports import Claim, Stored
from bot.core.alerts.storm import Ask, MemoryBudget, Share
from bot.core.model import Change, Incident, TimelineEvent
from bot.store.memory import MemoryStore


class MemoryAlerts:
    """Same contract in memory (one asyncio thread: nothing interleaves inside a call), with
    the same keyed lookups: groups by (source, group_key) and by incident."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self._groups: dict[int, AlertGroup] = {}
        self._rows: dict[int, dict[str, AlertRow]] = {}
        self._by_key: dict[tuple[str, str], dict[int, int]] = {}  # -> generation -> id
        self._by_incident: dict[int, list[int]] = {}
        self._ids = itertools.count(1)
        self._budget = MemoryBudget()

    async def _pair(self, group: AlertGroup) -> Stored:
        assert group.id is not None
        number = group.incident_number
        incident = await self.store.get_incident(number) if number is not None else None
        return copy.deepcopy(group), copy.deepcopy(list(self._rows[group.id].values())), incident

    async def load(self, source: str, group_key: str) -> Stored | None:
        generations = self._by_key.get((source, group_key))
        if not generations:
            return None
        return await self._pair(self._groups[generations[max(generations)]])

    async def get(self, group_id: int) -> Stored | None:
        group = self._groups.get(group_id)
        return await self._pair(group) if group else None

    async def create(self, group: AlertGroup) -> AlertGroup | None:
        generations = self._by_key.setdefault((group.source, group.group_key), {})
        if group.generation in generations:
            return None
        stored = dataclasses.replace(copy.deepcopy(group), id=next(self._ids))
        assert stored.id is not None
        self._groups[stored.id] = stored
        self._rows[stored.id] = {}
        generations[stored.generation] = stored.id
        if stored.incident_number is not None:
            self._by_incident.setdefault(stored.incident_number, []).append(stored.id)
        return copy.deepcopy(stored)

    async def save(
        self,
        group: AlertGroup,
        rows: Sequence[AlertRow],
        events: Sequence[TimelineEvent] = (),
        tell: Callable[[list[TimelineEvent]], Awaitable[None]] | None = None,
    ) -> list[TimelineEvent]:
        assert group.id in self._groups
        # The events first: the store checks them before changing anything.
        recorded = await self.store.commit(Change(events=list(events))) if events else []
        stored = self._groups[group.id]
        new = copy.deepcopy(group)
        # As in SQL: a link, an offer message and its channel are never undone by a copy.
        if stored.incident_number is not None:
            new.incident_number = stored.incident_number
        if stored.message_id is not None and new.message_id is None:
            new.message_id, new.channel_id = stored.message_id, stored.channel_id
            new.data = copy.deepcopy(stored.data)
        new.revision = stored.revision + 1
        self._groups[group.id] = new
        self._index(stored, new)
        group.incident_number, group.revision = new.incident_number, new.revision
        for row in rows:
            self._rows[row.group_id][row.fingerprint] = copy.deepcopy(row)
        if tell is not None:
            await tell(recorded)
        return recorded

    def _index(self, old: AlertGroup, new: AlertGroup) -> None:
        if old.incident_number == new.incident_number or new.incident_number is None:
            return
        assert new.id is not None
        self._by_incident.setdefault(new.incident_number, []).append(new.id)

    @contextlib.asynccontextmanager
    async def claim(self, group_id: int, service: str | None) -> AsyncIterator[Claim]:
        async with self.store.transaction() as tx:
            yield Claim(self._groups[group_id].incident_number is None, tx.effects)

    async def link(self, group_id: int, incident_number: int) -> bool:
        stored = self._groups[group_id]
        if stored.incident_number is not None:
            return False
        new = dataclasses.replace(stored, incident_number=incident_number)
        self._groups[group_id] = new
        self._index(stored, new)
        return True

    async def open_incident(self, service: str) -> Incident | None:
        return await self.store.open_incident_of(service)

    async def take(self, ask: Ask) -> Share:
        return self._budget.take(ask)

    async def overflowed(self, ask: Ask, message_id: str) -> None:
        self._budget.overflowed(ask, message_id)

    async def groups_of(self, incident_number: int) -> list[AlertGroup]:
        ids = self._by_incident.get(incident_number, [])
        return [copy.deepcopy(self._groups[i]) for i in sorted(ids)]

    async def first_alerts(self, incident_numbers: Sequence[int]) -> dict[int, datetime]:
        first: dict[int, datetime] = {}
        for number in incident_numbers:
            starts = [self._groups[i].first_alert_at for i in self._by_incident.get(number, [])]
            if starts:
                first[number] = min(starts)
        return first
