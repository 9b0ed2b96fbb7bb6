"""The AlertStore port (bot/core/alerts/ports.py) over SQL; in memory (for tests) in
bot/store/memory_alerts.py."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, and_, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.core.alerts.groups import AlertGroup, AlertRow
from bot.core.alerts.model import AlertStatus
from bot.core.alerts.ports import Claim, Stored
from bot.core.alerts.storm import Ask, Share, allowed
from bot.core.model import Incident, Severity, State, TimelineEvent
from bot.store import session
from bot.store.memory_alerts import MemoryAlerts
from bot.store.sql import I, SqlStore
from bot.store.tables import AlertBudgetRow, AlertGroupRow, AlertOverflowRow, AlertRowRow

__all__ = ["MemoryAlerts", "SqlAlerts"]

G = AlertGroupRow.__table__
A = AlertRowRow.__table__
B = AlertBudgetRow.__table__
V = AlertOverflowRow.__table__
_GROUP_FIELDS = tuple(
    f.name for f in dataclasses.fields(AlertGroup) if f.name not in ("id", "revision")
)
_GROUP_COLUMNS = (*_GROUP_FIELDS, "revision", "id")
_INCIDENT_COLUMNS = tuple(c.name for c in I.c)
_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(AlertRow))


MAX_BATCH = 200  # saves per transaction
CACHED_GROUPS = 2_000


@dataclasses.dataclass
class _Saved:
    """What a save leaves in the database: its recorded events, the group's incident and
    revision (another replica may have linked or saved the group meanwhile)."""

    events: list[TimelineEvent]
    incident_number: int | None
    revision: int


@dataclasses.dataclass
class _Held:
    """An incident's held-back count in a window, as a transaction holding its row has it."""

    more: int
    message_id: str | None
    pending: int = 0  # counted here, not yet written


@dataclasses.dataclass
class _Budget:
    """The storm budget rows one batch transaction has locked: (team, window) -> [total,
    not yet written], and the incidents' held-back counts."""

    lines: dict[tuple[str, datetime], list[int]] = dataclasses.field(default_factory=dict)
    more: dict[tuple[str, datetime, int], _Held] = dataclasses.field(default_factory=dict)


def _lock_key(service: str) -> int:
    """A stable 64-bit advisory lock key for a service's alert routing."""
    digest = hashlib.sha256(f"warroom:alerts:service:{service}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclasses.dataclass
class _Save:
    group: AlertGroup
    rows: list[AlertRow]
    events: list[TimelineEvent]
    create: bool = False  # a new group: insert it, and answer its id
    tell: Callable[[list[TimelineEvent]], Awaitable[None]] | None = None


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

    def __init__(
        self, store: SqlStore, *, woke: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.store = store
        self.engine = engine = store.engine
        # Called after a commit that wrote outbox rows (what a save's `tell` posted).
        self.woke = woke
        self._queue: list[tuple[_Save, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        # Alerts of recently seen groups by id, with the group revision they belong to: a
        # notification then reads one row (the group) instead of all its alerts.
        self._cache: OrderedDict[int, tuple[int, dict[str, AlertRow]]] = OrderedDict()
        # The storm budget rows a writer's transaction holds (see take).
        self._budgets: dict[session.Transaction, _Budget] = {}
        self._incident_columns = [c.label(f"inc_{c.name}") for c in I.c]
        # Last writer wins, except where a stale copy would undo another replica's work: a
        # link to an incident stays; an offer's message, the channel it is in and what was
        # noted about it (data: to whom, why not by DM) stay against a copy read before the
        # offer was posted; the revision counts every save (so a cached copy of the alerts
        # is never trusted after someone else's save).
        message_id = bindparam("_message_id", type_=String)
        before_offer = and_(message_id.is_(None), G.c.message_id.is_not(None))
        kept = {
            "incident_number": func.coalesce(G.c.incident_number, bindparam("_incident_number")),
            "message_id": func.coalesce(message_id, G.c.message_id),
            "channel_id": case(
                (before_offer, G.c.channel_id), else_=bindparam("_channel_id", type_=String)
            ),
            "data": case((before_offer, G.c.data), else_=bindparam("_data", type_=G.c.data.type)),
            "revision": G.c.revision + 1,
        }
        self._update_group = (
            update(G)
            .where(G.c.id == bindparam("_id"))
            .values(
                {
                    **{name: bindparam(f"_{name}") for name in _GROUP_FIELDS if name not in kept},
                    **kept,
                }
            )
        )
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._insert_group = (
            insert(G)
            .on_conflict_do_nothing(index_elements=["source", "group_key", "generation"])
            .returning(G.c.id)
        )
        upsert = insert(A)
        # The storm budget: one upsert counts a save's lines; one more counts what its
        # incident holds back (only past the limit). The row locks they take serialise
        # replicas per team until commit, so exactly one finds no "and N more" message.
        lines = insert(B)
        self._take = lines.on_conflict_do_update(
            index_elements=["team", "window_start"],
            set_={"lines": B.c.lines + lines.excluded.lines},
        ).returning(B.c.lines)
        more = insert(V)
        self._hold = more.on_conflict_do_update(
            index_elements=["team", "window_start", "incident_number"],
            set_={"more": V.c.more + more.excluded.more},
        ).returning(V.c.more, V.c.message_id)
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
        self,
        group: AlertGroup,
        rows: Sequence[AlertRow],
        events: Sequence[TimelineEvent] = (),
        tell: Callable[[list[TimelineEvent]], Awaitable[None]] | None = None,
    ) -> list[TimelineEvent]:
        save = _Save(copy.copy(group), list(rows), list(events), tell=tell)
        saved: _Saved = await self._submit(save)
        group.revision = saved.revision
        group.incident_number = saved.incident_number
        return saved.events

    @contextlib.asynccontextmanager
    async def claim(self, group_id: int, service: str | None) -> AsyncIterator[Claim]:
        async with self.store.transaction() as tx:
            # The first statement writes the group row: on Postgres a second replica's claim
            # waits here for this transaction and then finds the group linked; SQLite has
            # one writer, so the whole transaction is serialised the same way.
            won = (
                await tx.conn.execute(
                    update(G)
                    .where(G.c.id == group_id, G.c.incident_number.is_(None))
                    .values(incident_number=G.c.incident_number)
                    .returning(G.c.id)
                )
            ).first() is not None
            if won and service and self.engine.dialect.name == "postgresql":
                # Groups of one service: the first links, the rest find its incident.
                await tx.conn.execute(select(func.pg_advisory_xact_lock(_lock_key(service))))
            yield Claim(won, tx.effects)

    async def link(self, group_id: int, incident_number: int) -> bool:
        async with session.begin(self.engine) as conn:
            linked = await conn.execute(
                update(G)
                .where(G.c.id == group_id, G.c.incident_number.is_(None))
                .values(incident_number=incident_number)
                .returning(G.c.id)
            )
            return linked.first() is not None

    async def open_incident(self, service: str) -> Incident | None:
        # ix_incident_service (service, number), read newest first: the open one is at the top.
        statement = (
            select(I)
            .where(I.c.service == service, I.c.state != State.RESOLVED.value)
            .order_by(I.c.number.desc())
            .limit(1)
        )
        async with session.connect(self.engine) as conn:
            found = (await conn.execute(statement)).first()
        return _incident_from(dict(found._mapping)) if found is not None else None

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
        # The writer's own ambient transaction: what the saves' `tell` post (outbox rows)
        # is written in it too.
        async with session.transaction(self.engine) as tx:
            conn = tx.conn
            for save in creates:
                result = await conn.execute(self._insert_group.values(**_group_values(save.group)))
                ids[id(save)] = result.scalar()
            now: dict[int, tuple[int | None, int]] = {}
            if saves:
                await conn.execute(
                    self._update_group,
                    [
                        {
                            **{f"_{k}": v for k, v in _group_values(save.group).items()},
                            "_id": save.group.id,
                        }
                        for save in saves
                    ],
                )
                # As the database has them now (read under this transaction's row locks).
                ids_ = sorted({save.group.id for save in saves})  # type: ignore[type-var]
                now = {
                    row.id: (row.incident_number, row.revision)
                    for row in await conn.execute(
                        select(G.c.id, G.c.incident_number, G.c.revision).where(G.c.id.in_(ids_))
                    )
                }
            rows = [_row_values(r) for save in saves for r in save.rows]
            if rows:
                await conn.execute(self._upsert, rows)
            events = [e for save in saves for e in save.events]
            recorded = await self.store.insert_events(conn, events) if events else []
            # Alert events all have source keys: hand each save back what it recorded.
            by_key = {e.source_key: e for e in recorded}
            mine = {
                id(save): [by_key[e.source_key] for e in save.events if e.source_key in by_key]
                for save in saves
            }
            # By team: the storm budget's row locks are then taken in one order by every
            # replica's batch (no deadlock between two batches of several teams). The
            # batch's first ask of a row upserts (and locks) it; the rest count in memory.
            budget = self._budgets[tx] = _Budget()
            try:
                for save in sorted(saves, key=lambda s: s.group.team or s.group.service or ""):
                    if save.tell is not None:
                        await save.tell(mine[id(save)])
                await self._write_budget(conn, budget)
            finally:
                del self._budgets[tx]
            wrote_effects = bool(tx.effects)
        if wrote_effects and self.woke is not None:
            await self.woke()
        for save in creates:
            if ids[id(save)] is not None:
                self._remember(ids[id(save)], 0, {})  # type: ignore[arg-type]
        results: list[Any] = []
        for save in batch:
            if save.create:
                results.append(ids[id(save)])
                continue
            number, revision = now[save.group.id]  # type: ignore[index]
            self._saved(save, revision)
            results.append(_Saved(mine[id(save)], number, revision))
        return results

    def _saved(self, save: _Save, revision: int) -> None:
        """Keep the cached alerts of a saved group current, or forget them when someone else
        saved the group since this process read it (several saves of one group in a batch:
        each finds the revision moved on, so the cache is dropped)."""
        group_id = save.group.id
        assert group_id is not None
        cached = self._cache.get(group_id)
        if cached is None or cached[0] != save.group.revision or revision != cached[0] + 1:
            self._cache.pop(group_id, None)
            return
        rows = cached[1]
        for row in save.rows:
            rows[row.fingerprint] = row
        self._remember(group_id, revision, rows)

    async def take(self, ask: Ask) -> Share:
        # Inside a save's tell this is the save's transaction (session.begin joins it).
        tx = session.ambient(self.engine)
        batch = self._budgets.get(tx) if tx is not None else None
        async with session.begin(self.engine) as conn:
            key = (ask.team, ask.window)
            counted = batch.lines.get(key) if batch is not None else None
            if counted is not None:
                # This transaction holds the row (its first upsert locked it): count here,
                # write once before commit.
                counted[0] += ask.wanted
                counted[1] += ask.wanted
                total = counted[0]
            else:
                total = (
                    await conn.execute(
                        self._take.values(team=ask.team, window_start=ask.window, lines=ask.wanted)
                    )
                ).scalar_one()
                if batch is not None:
                    batch.lines[key] = [total, 0]
                if total == ask.wanted:  # the team's first lines in this window
                    for table in (B, V):
                        await conn.execute(
                            delete(table).where(
                                table.c.team == ask.team, table.c.window_start < ask.window
                            )
                        )
            lines = allowed(ask, total)
            if lines == ask.wanted:
                return Share(lines, 0)
            excess = ask.wanted - lines
            held = batch.more.get((*key, ask.incident)) if batch is not None else None
            if held is not None:
                held.more += excess
                held.pending += excess
                return Share(lines, held.more, held.message_id)
            more, message_id = (
                await conn.execute(
                    self._hold.values(
                        team=ask.team,
                        window_start=ask.window,
                        incident_number=ask.incident,
                        more=excess,
                    )
                )
            ).one()
            if batch is not None:
                batch.more[(*key, ask.incident)] = _Held(more, message_id)
        return Share(lines, more, message_id)

    async def overflowed(self, ask: Ask, message_id: str) -> None:
        tx = session.ambient(self.engine)
        batch = self._budgets.get(tx) if tx is not None else None
        held = batch.more.get((ask.team, ask.window, ask.incident)) if batch else None
        if held is not None:
            held.message_id = message_id
        async with session.begin(self.engine) as conn:
            await conn.execute(
                update(V)
                .where(
                    V.c.team == ask.team,
                    V.c.window_start == ask.window,
                    V.c.incident_number == ask.incident,
                )
                .values(message_id=message_id)
            )

    async def _write_budget(self, conn: Any, batch: _Budget) -> None:
        """What a batch counted past its first upsert per row, in one statement per table."""
        lines = [
            {"_team": team, "_window": window, "_n": pending}
            for (team, window), (_, pending) in batch.lines.items()
            if pending
        ]
        if lines:
            await conn.execute(
                update(B)
                .where(B.c.team == bindparam("_team"), B.c.window_start == bindparam("_window"))
                .values(lines=B.c.lines + bindparam("_n")),
                lines,
            )
        more = [
            {"_team": team, "_window": window, "_incident": incident, "_n": held.pending}
            for (team, window, incident), held in batch.more.items()
            if held.pending
        ]
        if more:
            await conn.execute(
                update(V)
                .where(
                    V.c.team == bindparam("_team"),
                    V.c.window_start == bindparam("_window"),
                    V.c.incident_number == bindparam("_incident"),
                )
                .values(more=V.c.more + bindparam("_n")),
                more,
            )

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
