"""The Reminders port: over SQL (the truth, shared by replicas) and in memory (tests, drills)."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.model import Reminder, ReminderState
from bot.store import pg_inplace, session
from bot.store.returning import ids_in_order
from bot.store.tables import ReminderRow

R = ReminderRow.__table__
PENDING = ReminderState.PENDING.value
FIRED = ReminderState.FIRED.value
FAILED = ReminderState.FAILED.value

# Built once (the ticker runs them for every batch); `ids` expands to the batch's ids.
_MINE = (
    R.c.id.in_(bindparam("ids", expanding=True)),
    R.c.claimed_by == bindparam("me"),
    R.c.state == PENDING,
)
_MARK = (
    update(R)
    .where(*_MINE)
    .values(state=bindparam("fired"), fired_at=bindparam("now"))
    .returning(R.c.id)
)
_RENEW = update(R).where(*_MINE).values(lease_until=bindparam("until")).returning(R.c.id)
# A failed attempt: counted, its reason kept, and (retry) held until its backoff ends or
# (fail) given up on. Fenced by the claim, like marking it fired.
_RETRY = (
    update(R)
    .where(*_MINE)
    .values(
        attempts=bindparam("attempts"), error=bindparam("error"), lease_until=bindparam("until")
    )
    .returning(R.c.id)
)
_FAIL = (
    update(R)
    .where(*_MINE)
    .values(attempts=bindparam("attempts"), error=bindparam("error"), state=FAILED)
    .returning(R.c.id)
)
WHAT = {
    "status_update": "the status-update reminder",
    "task_due": "a task's due reminder",
    "retrospective": "the retrospective reminder",
    "remind": "a reminder",
    "escalate": "the escalation of a page",
}


def _reminder(row: Any) -> Reminder:
    values = dict(row._mapping)
    values["state"] = ReminderState(values["state"])
    return Reminder(**values)


def _values(reminder: Reminder) -> dict[str, Any]:
    values = {f.name: getattr(reminder, f.name) for f in dataclasses.fields(reminder)}
    values.pop("id")
    values["state"] = reminder.state.value
    return values


# `_schedule`'s ON CONFLICT and RETURNING as SQL, for pg_inplace.execute_insert (on Postgres,
# in a command's transaction, the INSERT through asyncpg alone).
_SCHEDULE_SQL = "ON CONFLICT (key) DO NOTHING RETURNING id, key"


class SqlReminders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._postgres else sqlite.insert
        # One statement, built once: the sub-select picks due, unleased rows; on Postgres FOR
        # UPDATE SKIP LOCKED makes concurrent claimants take disjoint rows instead of waiting
        # or sharing (and, inside the ticker's transaction, keeps them until it commits).
        # SQLite has a single writer, so the UPDATE alone is already exclusive. The lease
        # runs from `now`, the time of this claim.
        due = (
            select(R.c.id)
            .where(
                R.c.state == PENDING,
                R.c.due_at <= bindparam("due_by"),
                or_(R.c.lease_until.is_(None), R.c.lease_until < bindparam("now")),
            )
            .order_by(R.c.due_at, R.c.id)
            .limit(bindparam("limit"))
        )
        if self._postgres:
            due = due.with_for_update(skip_locked=True)
        self._claim = (
            update(R)
            .where(R.c.id.in_(due.scalar_subquery()))
            .values(claimed_by=bindparam("me"), lease_until=bindparam("until"))
            .returning(*R.c)
        )
        self._schedule = (
            self._insert(R)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(R.c.id, R.c.key)
        )

    async def schedule(self, reminder: Reminder) -> Reminder | None:
        async with session.begin(self.engine) as conn:
            rows = await pg_inplace.execute_insert(
                conn, self._schedule, [_values(reminder)], _SCHEDULE_SQL
            )
        if not rows:
            return None  # its key was there already
        return dataclasses.replace(reminder, id=rows[0][0])

    async def schedule_many(self, reminders: Sequence[Reminder]) -> list[Reminder | None]:
        if not reminders:
            return []
        # One cached statement as executemany: insertmanyvalues makes it one multi-row INSERT.
        # RETURNING names the rows inserted (keyed ones by key; keyless ones are never skipped
        # and get their ids in order).
        async with session.begin(self.engine) as conn:
            rows = await pg_inplace.execute_insert(
                conn, self._schedule, [_values(r) for r in reminders], _SCHEDULE_SQL
            )
        ids = ids_in_order(rows, [r.key for r in reminders])
        return [
            None if id_ is None else dataclasses.replace(reminder, id=id_)
            for reminder, id_ in zip(reminders, ids, strict=True)
        ]

    async def cancel(self, incident_number: int, kinds: Sequence[str] | None = None) -> int:
        where = [R.c.incident_number == incident_number, R.c.state == PENDING]
        if kinds is not None:
            where.append(R.c.kind.in_(list(kinds)))
        async with session.begin(self.engine) as conn:
            result = await conn.execute(
                update(R)
                .where(*where)
                .values(state=ReminderState.CANCELLED.value)
                .returning(R.c.id)
            )
            return len(result.all())

    async def pending(self, incident_number: int) -> list[Reminder]:
        query = (
            select(R)
            .where(R.c.incident_number == incident_number, R.c.state == PENDING)
            .order_by(R.c.due_at, R.c.id)
        )
        async with session.connect(self.engine) as conn:
            return [_reminder(r) for r in await conn.execute(query)]

    async def claim_due(
        self,
        me: str,
        now: datetime,
        *,
        limit: int = 50,
        lease_seconds: int = 60,
        due_by: datetime | None = None,
    ) -> list[Reminder]:
        params = {
            "me": me,
            "now": now,
            "due_by": due_by or now,
            "limit": limit,
            "until": now + timedelta(seconds=lease_seconds),
        }
        async with session.begin(self.engine) as conn:
            rows = (await conn.execute(self._claim, params)).all()
        return sorted((_reminder(r) for r in rows), key=lambda r: (r.due_at, r.id or 0))

    async def mark_fired(self, reminder_id: int, me: str, now: datetime) -> bool:
        return reminder_id in await self.mark_fired_many([reminder_id], me, now)

    async def mark_fired_many(self, ids: Collection[int], me: str, now: datetime) -> set[int]:
        # Fenced by the claim: a reminder another replica claimed after our lease ran out is
        # not ours to fire any more.
        if not ids:
            return set()
        async with session.begin(self.engine) as conn:
            rows = await conn.execute(
                _MARK, {"ids": list(ids), "me": me, "now": now, "fired": FIRED}
            )
            return {row.id for row in rows}

    async def renew(self, ids: Collection[int], me: str, until: datetime) -> set[int]:
        if not ids:
            return set()
        async with session.begin(self.engine) as conn:
            rows = await conn.execute(_RENEW, {"ids": list(ids), "me": me, "until": until})
            return {row.id for row in rows}

    async def retry(
        self, reminder_id: int, me: str, attempts: int, error: str, until: datetime
    ) -> bool:
        params = {"attempts": attempts, "error": error, "until": until}
        return await self._attempt(_RETRY, reminder_id, me, params)

    async def fail(self, reminder_id: int, me: str, attempts: int, error: str) -> bool:
        return await self._attempt(_FAIL, reminder_id, me, {"attempts": attempts, "error": error})

    async def _attempt(
        self, statement: Any, reminder_id: int, me: str, params: dict[str, Any]
    ) -> bool:
        async with session.begin(self.engine) as conn:
            rows = await conn.execute(statement, {"ids": [reminder_id], "me": me, **params})
            return bool(rows.all())

    async def failed(self, incident_number: int) -> list[str]:
        async with session.connect(self.engine) as conn:
            return await failed_reminder_lines(conn, incident_number)


async def failed_reminder_lines(conn: AsyncConnection, incident_number: int) -> list[str]:
    """An incident's reminders that failed for good, as `/incident show` lists failed chat
    side effects (bot/store/outbox.py's failed_lines)."""
    rows = await conn.execute(
        select(R.c.kind, R.c.due_at, R.c.attempts, R.c.error)
        .where(R.c.incident_number == incident_number, R.c.state == FAILED)
        .order_by(R.c.due_at, R.c.id)
    )
    return [failed_line(row.kind, row.due_at, row.attempts, row.error) for row in rows]


def failed_line(kind: str, due_at: datetime, attempts: int, error: str | None) -> str:
    what = WHAT.get(kind, f"a {kind} reminder")
    return f"{what} due {due_at:%Y-%m-%d %H:%M} UTC failed after {attempts} attempts: {error}"


class MemoryReminders:
    """Same contract in memory; the asyncio loop is one thread, so claims cannot interleave."""

    def __init__(self) -> None:
        self._rows: dict[int, Reminder] = {}
        self._ids = itertools.count(1)

    async def schedule(self, reminder: Reminder) -> Reminder | None:
        if reminder.key is not None and any(r.key == reminder.key for r in self._rows.values()):
            return None
        stored = dataclasses.replace(copy.deepcopy(reminder), id=next(self._ids))
        self._rows[stored.id] = stored  # type: ignore[index]
        return copy.deepcopy(stored)

    async def schedule_many(self, reminders: Sequence[Reminder]) -> list[Reminder | None]:
        return [await self.schedule(reminder) for reminder in reminders]

    async def cancel(self, incident_number: int, kinds: Sequence[str] | None = None) -> int:
        count = 0
        for r in self._rows.values():
            if (
                r.incident_number == incident_number
                and r.state is ReminderState.PENDING
                and (kinds is None or r.kind in kinds)
            ):
                r.state = ReminderState.CANCELLED
                count += 1
        return count

    async def pending(self, incident_number: int) -> list[Reminder]:
        rows = [
            r
            for r in self._rows.values()
            if r.incident_number == incident_number and r.state is ReminderState.PENDING
        ]
        return copy.deepcopy(sorted(rows, key=lambda r: (r.due_at, r.id or 0)))

    async def claim_due(
        self,
        me: str,
        now: datetime,
        *,
        limit: int = 50,
        lease_seconds: int = 60,
        due_by: datetime | None = None,
    ) -> list[Reminder]:
        due = sorted(
            (
                r
                for r in self._rows.values()
                if r.state is ReminderState.PENDING
                and r.due_at <= (due_by or now)
                and (r.lease_until is None or r.lease_until < now)
            ),
            key=lambda r: (r.due_at, r.id or 0),
        )[:limit]
        for r in due:
            r.claimed_by, r.lease_until = me, now + timedelta(seconds=lease_seconds)
        return copy.deepcopy(due)

    def _mine(self, ids: Collection[int], me: str) -> list[Reminder]:
        rows = (self._rows.get(i) for i in ids)
        return [r for r in rows if r and r.claimed_by == me and r.state is ReminderState.PENDING]

    async def mark_fired(self, reminder_id: int, me: str, now: datetime) -> bool:
        return reminder_id in await self.mark_fired_many([reminder_id], me, now)

    async def mark_fired_many(self, ids: Collection[int], me: str, now: datetime) -> set[int]:
        marked = self._mine(ids, me)
        for r in marked:
            r.state, r.fired_at = ReminderState.FIRED, now
        return {r.id for r in marked if r.id is not None}

    async def renew(self, ids: Collection[int], me: str, until: datetime) -> set[int]:
        renewed = self._mine(ids, me)
        for r in renewed:
            r.lease_until = until
        return {r.id for r in renewed if r.id is not None}

    async def retry(
        self, reminder_id: int, me: str, attempts: int, error: str, until: datetime
    ) -> bool:
        for r in self._mine([reminder_id], me):
            r.attempts, r.error, r.lease_until = attempts, error, until
            return True
        return False

    async def fail(self, reminder_id: int, me: str, attempts: int, error: str) -> bool:
        for r in self._mine([reminder_id], me):
            r.attempts, r.error, r.state = attempts, error, ReminderState.FAILED
            return True
        return False

    async def failed(self, incident_number: int) -> list[str]:
        rows = sorted(
            (
                r
                for r in self._rows.values()
                if r.incident_number == incident_number and r.state is ReminderState.FAILED
            ),
            key=lambda r: (r.due_at, r.id or 0),
        )
        return [failed_line(r.kind, r.due_at, r.attempts, r.error) for r in rows]
