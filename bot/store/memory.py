"""An in-memory Store: for unit tests and dry runs. Same contract as SqlStore."""

from __future__ import annotations

import copy
import itertools
from datetime import datetime

from bot.core.model import (
    Change,
    Incident,
    Participant,
    RoleAssignment,
    State,
    StatusUpdate,
    Task,
    TimelineEvent,
)


class MemoryStore:
    def __init__(self) -> None:
        self._incidents: dict[int, Incident] = {}
        self._events: list[TimelineEvent] = []
        self._source_keys: set[str] = set()
        self._roles: list[RoleAssignment] = []
        self._participants: dict[tuple[int, str], Participant] = {}
        self._updates: list[StatusUpdate] = []
        self._tasks: dict[int, Task] = {}
        self._ids = itertools.count(1)
        self._requests: dict[str, datetime] = {}

    async def create_incident(self, incident: Incident) -> Incident:
        stored = copy.deepcopy(incident)
        stored.number = max(self._incidents, default=0) + 1
        self._incidents[stored.number] = stored
        return copy.deepcopy(stored)

    async def commit(self, change: Change) -> list[TimelineEvent]:
        # Copies in and out, so callers cannot change stored state without committing.
        if change.incident is not None:
            if change.incident.number not in self._incidents:
                raise KeyError(f"no incident {change.incident.number}")
            self._incidents[change.incident.number] = copy.deepcopy(change.incident)
        recorded = []
        for event in change.events:
            if event.source_key is not None:
                if event.source_key in self._source_keys:
                    continue
                self._source_keys.add(event.source_key)
            stored = copy.deepcopy(event)
            stored.id = next(self._ids)
            self._events.append(stored)
            recorded.append(copy.deepcopy(stored))
        self._roles.extend(copy.deepcopy(change.roles))
        for participant in change.participants:
            self._participants.setdefault(
                (participant.incident_number, participant.user), copy.deepcopy(participant)
            )
        self._updates.extend(copy.deepcopy(change.status_updates))
        for task in change.tasks:
            if task.id is None:
                task.id = next(self._ids)
            self._tasks[task.id] = copy.deepcopy(task)
        return recorded

    async def get_incident(self, number: int) -> Incident | None:
        incident = self._incidents.get(number)
        return copy.deepcopy(incident) if incident else None

    async def incident_by_channel(self, platform: str, channel_id: str) -> Incident | None:
        for incident in self._incidents.values():
            if incident.platform == platform and incident.channel_id == channel_id:
                return copy.deepcopy(incident)
        return None

    async def list_incidents(
        self, *, include_resolved: bool = False, limit: int = 50
    ) -> list[Incident]:
        chosen = [
            i for i in self._incidents.values() if include_resolved or i.state is not State.RESOLVED
        ]
        chosen.sort(key=lambda i: i.number, reverse=True)
        return copy.deepcopy(chosen[:limit])

    async def incidents_declared_since(self, since: datetime | None) -> list[Incident]:
        chosen = [i for i in self._incidents.values() if since is None or i.declared_at >= since]
        return copy.deepcopy(sorted(chosen, key=lambda i: (i.declared_at, i.number)))

    async def timeline(self, number: int, *, last: int | None = None) -> list[TimelineEvent]:
        events = sorted(
            (e for e in self._events if e.incident_number == number),
            key=lambda e: (e.occurred_at, e.id or 0),
        )
        if last is not None:
            events = events[-last:]
        return copy.deepcopy(events)

    async def roles(self, number: int) -> list[RoleAssignment]:
        return copy.deepcopy([r for r in self._roles if r.incident_number == number])

    async def participants(self, number: int) -> list[Participant]:
        return copy.deepcopy([p for (n, _), p in self._participants.items() if n == number])

    async def status_updates(self, number: int) -> list[StatusUpdate]:
        return copy.deepcopy([u for u in self._updates if u.incident_number == number])

    async def tasks(self, number: int) -> list[Task]:
        tasks = [t for t in self._tasks.values() if t.incident_number == number]
        return copy.deepcopy(sorted(tasks, key=lambda t: t.position))

    async def claim_request(self, key: str, now: datetime) -> bool:
        if key in self._requests:
            return False
        self._requests[key] = now
        return True

    async def get_event(self, source_key: str) -> TimelineEvent | None:
        for event in self._events:
            if event.source_key == source_key:
                return copy.deepcopy(event)
        return None

    async def update_event(
        self,
        source_key: str,
        *,
        text: str | None = None,
        deleted_at: datetime | None = None,
        data: dict[str, object] | None = None,
    ) -> TimelineEvent | None:
        for event in self._events:
            if event.source_key == source_key:
                if text is not None:
                    event.text = text
                if deleted_at is not None:
                    event.deleted_at = deleted_at
                if data:
                    event.data = {**event.data, **data}
                return copy.deepcopy(event)
        return None

    async def close(self) -> None:
        return None
