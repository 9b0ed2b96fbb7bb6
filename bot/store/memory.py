"""An in-memory Store: for unit tests and dry runs. Same contract as SqlStore."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from bot.core.model import (
    Change,
    EventKind,
    Incident,
    MessageRow,
    Participant,
    RoleAssignment,
    State,
    StatusUpdate,
    Task,
    TimelineEvent,
)
from bot.core.ports import AlreadyHandled

T = TypeVar("T")


@dataclass
class _Transaction:
    effects: list[int] = field(default_factory=list)


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
        self._by_service: dict[str, list[int]] = {}  # service -> its incidents' numbers, in order

    async def create_incident(self, incident: Incident) -> Incident:
        stored = _utc(copy.deepcopy(incident))
        stored.number = max(self._incidents, default=0) + 1
        self._incidents[stored.number] = stored
        if stored.service is not None:
            self._by_service.setdefault(stored.service, []).append(stored.number)
        return copy.deepcopy(stored)

    async def open_incident_of(self, service: str) -> Incident | None:
        """The service's newest open incident, by key (bot/store/alerts.MemoryAlerts)."""
        for number in reversed(self._by_service.get(service, [])):
            found = self._incidents[number]
            if found.service == service and found.is_open:
                return copy.deepcopy(found)
        return None

    async def commit(self, change: Change) -> list[TimelineEvent]:
        # All or nothing, like a database transaction: every constraint is checked before the
        # first change (copying the whole store for a rollback made each commit O(store)).
        staged = _utc(copy.deepcopy(change))
        self._check(staged)
        return self._apply(staged, change.tasks)

    def _check(self, change: Change) -> None:
        """Raise what the database's foreign keys and unique constraints would."""
        numbers = {
            item.incident_number
            for item in (
                *change.events,
                *change.roles,
                *change.participants,
                *change.status_updates,
                *change.tasks,
            )
        }
        if change.incident is not None:
            numbers.add(change.incident.number)
        missing = numbers - self._incidents.keys()
        if missing:
            raise KeyError(f"no incident {min(missing)}")
        changing = {task.id for task in change.tasks if task.id is not None}
        taken = {
            (t.incident_number, t.position) for i, t in self._tasks.items() if i not in changing
        }
        for task in change.tasks:
            place = (task.incident_number, task.position)
            if place in taken:
                raise ValueError(f"task position {task.position} is taken")
            taken.add(place)

    def _apply(self, change: Change, callers_tasks: list[Task]) -> list[TimelineEvent]:
        if change.incident is not None:
            before = self._incidents[change.incident.number].service
            self._incidents[change.incident.number] = change.incident
            if change.incident.service not in (before, None):
                numbers = self._by_service.setdefault(change.incident.service, [])
                numbers.append(change.incident.number)
                numbers.sort()
        recorded = []
        for event in change.events:
            if event.source_key is not None:
                if event.source_key in self._source_keys:
                    continue
                self._source_keys.add(event.source_key)
            event.id = next(self._ids)
            self._events.append(event)
            recorded.append(copy.deepcopy(event))
        self._roles.extend(change.roles)
        for participant in change.participants:
            self._participants.setdefault(
                (participant.incident_number, participant.user), participant
            )
        self._updates.extend(change.status_updates)
        # New task ids are written back to the caller's tasks too, as SqlStore does.
        for task, original in zip(change.tasks, callers_tasks, strict=True):
            if task.id is None:
                task.id = original.id = next(self._ids)
            self._tasks[task.id] = task
        return recorded

    async def record_messages(
        self,
        messages: Sequence[MessageRow],
        participants: Sequence[Participant] = (),
        inbox_keys: Sequence[str] = (),
    ) -> list[bool]:
        # All or nothing: every check comes before the first change.
        for number in {m.incident_number for m in messages} | {
            p.incident_number for p in participants
        }:
            if number not in self._incidents:
                raise KeyError(f"no incident {number}")
        recorded = []
        for m in messages:
            if m.source_key is not None:
                if m.source_key in self._source_keys:
                    recorded.append(False)
                    continue
                self._source_keys.add(m.source_key)
            self._events.append(
                TimelineEvent(
                    m.incident_number,
                    EventKind.MESSAGE,
                    m.actor,
                    m.text,
                    occurred_at=m.occurred_at.astimezone(UTC),
                    recorded_at=m.recorded_at.astimezone(UTC),
                    source_key=m.source_key,
                    id=next(self._ids),
                )
            )
            recorded.append(True)
        for participant in participants:
            self._participants.setdefault(
                (participant.incident_number, participant.user), _utc(copy.copy(participant))
            )
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

    async def incidents_by_number(self, numbers: Collection[int]) -> dict[int, Incident]:
        return {n: copy.deepcopy(i) for n, i in self._incidents.items() if n in numbers}

    async def roles_by_incident(self, numbers: Collection[int]) -> dict[int, list[RoleAssignment]]:
        found: dict[int, list[RoleAssignment]] = {}
        for r in self._roles:
            if r.incident_number in numbers:
                found.setdefault(r.incident_number, []).append(copy.deepcopy(r))
        return found

    async def tasks_by_incident(self, numbers: Collection[int]) -> dict[int, list[Task]]:
        return {n: tasks for n in numbers if (tasks := await self.tasks(n))}

    async def with_status_updates(self, numbers: Collection[int]) -> set[int]:
        return {u.incident_number for u in self._updates if u.incident_number in numbers}

    @contextlib.asynccontextmanager
    async def transaction(self, inbox_key: str | None = None) -> AsyncIterator[_Transaction]:
        # One event loop thread: nothing interleaves unless the caller awaits something else.
        # (No rollback: the memory store serves tests and drills, not durability.)
        if inbox_key is not None:
            if inbox_key in self._requests:
                raise AlreadyHandled(inbox_key)
            self._requests[inbox_key] = datetime.now(UTC)
        yield _Transaction()

    def in_transaction(self) -> bool:
        return False  # each commit is kept at once: nothing is rolled back with its block

    async def undelivered(self, number: int) -> list[str]:
        return []

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


def _utc(obj: T) -> T:
    """Normalise every datetime field to UTC, as the SQL store's column type does."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if isinstance(value, datetime):
                setattr(obj, f.name, value.astimezone(UTC))
            elif isinstance(value, list) or dataclasses.is_dataclass(value):
                _utc(value)
    elif isinstance(obj, list):
        for item in obj:
            _utc(item)
    return obj
