"""The outbox: every chat side effect as a row, written in the transaction of its cause.

`OutboxChat` is the Chat port the core talks to when the bot runs on a database: each call
writes a row instead of calling the platform, and returns at once. What a platform call would
have returned (a new channel's id, a posted message's id) is a stand-in, `⟦outbox:N⟧`, that
the core stores like a real id; the worker (bot/schedule/outbox.py) swaps in the real id when
it delivers row N, in the row's own finishing transaction, and resolves it in every later row
that mentions it.

Rows of one lane are delivered in id order; a row naming another row's stand-in is delivered
after it (`after`). A channel has four lanes, so that what does not depend on each other goes
at once: its messages (posts, edits, checklists, uploads: people read them in order), its
topic, its members and its pins (a pin waits for its message through `after`).

Rows written inside a transaction are claimed by the local worker as they are written (the
lease and claim token go into the INSERT) and handed to it once the transaction commits: no
claim round trip, and no other replica can take them meanwhile. If this process dies first,
the lease runs out and any replica claims them with the one claim statement. Finishing is
fenced by the claim token, and failed rows stay visible (`/incident show`).

Those rows are not inserted one by one either: their ids are reserved as they are written (so
that stand-ins, `after` and the reply's effects can name them at once) and the rows are held
in memory until the transaction is about to commit, then inserted by one statement (`_Held`).
"""

from __future__ import annotations

import base64
import functools
import json
import re
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    Integer,
    bindparam,
    case,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.model import Incident, Task
from bot.core.ports import Channel, Chat, Clock, Posting
from bot.store import pg_inplace, raw, session, sqlite_driver
from bot.store.tables import IncidentRow, OutboxRow
from bot.store.types import JSONData, UTCDateTime

O = OutboxRow.__table__  # noqa: E741
I = IncidentRow.__table__  # noqa: E741
PLACEHOLDER_PREFIX = "⟦outbox:"
TOKEN = re.compile(r"⟦(outbox|link):(\d+)(?::([^⟧]*))?⟧")
PENDING, DONE, FAILED = "pending", "done", "failed"
# Serialises claims on Postgres (SKIP LOCKED alone lets two claims split one lane).
CLAIM_LOCK = 727_010
# A channel's lanes besides its messages' (the channel id itself); ids never contain "|".
# PLAYBOOK holds its incident's playbook reactions (`react_later`), one after another.
TOPIC, MEMBERS, PINS, PLAYBOOK = "|topic", "|members", "|pins", "|playbook"
CHANNEL_LANES = ("", TOPIC, MEMBERS, PINS, PLAYBOOK)
REACT = "react"


def placeholder(row_id: int) -> str:
    return f"{PLACEHOLDER_PREFIX}{row_id}⟧"


def placeholder_id(value: str | None) -> int | None:
    match = TOKEN.fullmatch(value or "")
    return int(match.group(2)) if match and match.group(1) == "outbox" else None


def references(value: object) -> list[int]:
    return [int(m.group(2)) for m in TOKEN.finditer(json.dumps(value, ensure_ascii=False))]


def lanes_of(channel_id: str) -> list[str]:
    return [channel_id + part for part in CHANNEL_LANES]


def _channel(channel: Channel) -> dict[str, str]:
    return {"id": channel.id, "name": channel.name}


class Courier(Protocol):
    """The local worker, as the rows written in a transaction see it."""

    name: str
    lease_seconds: float

    def take(self, rows: Sequence[Claimed], committing: session.Committing | None = None) -> None:
        """Deliver these rows, claimed as they were written, once their transaction has
        committed (`committing`: as it commits); nothing reaches a platform before."""
        ...

    def wake(self) -> None:
        """Rows nobody claimed yet were written: look for them now."""
        ...


# In the INSERT's RETURNING: the latest earlier row of the lane still pending under another
# claim (or none), which the new row must wait for. The same on SQLite and Postgres: it leaves
# out the new row by its id, whichever snapshot the subquery sees. Written out, because
# SQLAlchemy does not correlate a subquery in RETURNING with the row being inserted.
_BLOCKER_SQL = (
    "(SELECT max(earlier.id) FROM outbox AS earlier WHERE earlier.lane = outbox.lane"
    " AND earlier.id < outbox.id AND earlier.state = 'pending' AND (earlier.claim_token"
    " IS NULL OR earlier.claim_token != outbox.claim_token))"
)
_BLOCKER = literal_column(_BLOCKER_SQL, Integer)
_INSERT_CLAIMED = insert(O).returning(O.c.id, _BLOCKER.label("blocker"))
_INSERT = insert(O).returning(O.c.id)
# Ids a transaction takes on Postgres for its first rows (a declaration writes 7); when they
# are used up it takes as many again as it has so far, so n rows cost log(n) reservations.
BLOCK = 16
_NEXT_IDS = (
    "ARRAY(SELECT nextval(pg_get_serial_sequence('outbox', 'id'))"
    f" FROM generate_series(1, {BLOCK}))"
)
_INSERT_RESERVING = insert(O).returning(
    O.c.id, _BLOCKER.label("blocker"), literal_column(_NEXT_IDS).label("ids")
)
_LAST_ID = "SELECT max(id) FROM outbox"
_RESERVE = text(
    "SELECT nextval(pg_get_serial_sequence('outbox', 'id')) FROM generate_series(1, :n)"
).bindparams(bindparam("n", type_=Integer))


@dataclass(eq=False)
class _Held:
    """The rows written in one transaction and claimed for the local worker, held back until
    it is about to commit and then inserted by one statement (`flush`), with each row's
    blocker in the RETURNING as before (the `_BLOCKER` subquery, now run once for them all).

    Each row's id is known as it is written, and the ids of one transaction increase in the
    order its rows are written (a lane is delivered in id order, and the worker plans a row
    after the rows it names only if they have lower ids). Across transactions a lane's ids
    must follow what each writer could see: a row written after another transaction's rows
    of the same lane were committed has a higher id than theirs, as a nextval per INSERT gave.

    - SQLite: the first row is inserted at once, as before. From that INSERT on this
      transaction holds the database's write lock (one writer at a time, WAL or not) until
      it commits, and SQLite gave the row max(id) + 1 (the table is not AUTOINCREMENT, and
      no outbox row is ever deleted). So nobody else can write an outbox row before we
      commit, and the ids after it, first + 1, first + 2, ..., are free until the flush
      writes them; another transaction's rows are all older or all newer than ours.
    - Postgres, a row of a lane only this transaction knows of yet (the lanes of a channel it
      creates: `new:...`, and the lanes named by that row's stand-in): its id comes from the
      outbox's id sequence, reserved `BLOCK` at a time (then as many again as taken so far).
      No other transaction can write such a lane before we commit, so only the order within
      this transaction matters. An id reserved and never used is a gap, which nothing minds.
    - Postgres, any other lane (an existing channel, a DM, the announcement channel): the row
      is inserted at once, its id drawn by that INSERT as before, since a concurrent
      transaction may write the same lane; the ids reserved before it are dropped, so that
      the rows after it take later ones, which that INSERT reserves too (in its RETURNING)
      if the transaction holds rows back. (A declaration: ids reserved by its first row, the
      announcement inserted at once, the checklist held; the held rows in one INSERT.)

    The transaction's other outbox writes (a row due later, `post_many`) are inserted at
    once too: they flush what is held first (on SQLite their ids, max + 1, would otherwise be
    ids held back) and drop what was reserved, so that the rows held after them take ids
    after theirs."""

    postgres: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    claimed: list[Claimed] = field(default_factory=list)
    mine: set[int] = field(default_factory=set)  # ids of the rows it wrote
    ids: deque[int] = field(default_factory=deque)  # Postgres: reserved, for the next rows
    reserved: int = 0  # Postgres: how many ids it took
    next_id: int | None = None  # SQLite: the next row's, once a row was inserted

    async def reserve(self, conn: AsyncConnection, lane: str) -> int | None:
        """The next row's id, or None for a row to insert at once (then `written`)."""
        if not self.postgres:
            if self.next_id is None and sqlite_driver.has_written(conn):
                # This transaction holds the file's write lock already (its first write took
                # it): nobody can insert an outbox row before it commits, so the ids after
                # the largest are ours, and even the first row can be held back.
                (last,) = sqlite_driver.execute_in_place(conn, _LAST_ID)[0]
                self.next_id = int(last or 0) + 1
            row_id = self.next_id
            if row_id is not None:
                self.next_id = row_id + 1
        elif not self.owns(lane):
            self.ids.clear()
            return None
        else:
            if not self.ids:
                n = max(BLOCK, self.reserved)
                raw = pg_inplace.connection(conn)
                if raw is not None:
                    ids = [r[0] for r in await pg_inplace.fetch(raw, _PG_RESERVE, (n,), conn)]
                else:
                    ids = list((await conn.execute(_RESERVE, {"n": n})).scalars())
                self.ids.extend(sorted(int(i) for i in ids))
                self.reserved += n
            row_id = self.ids.popleft()
        if row_id is not None:
            self.mine.add(row_id)
        return row_id

    def owns(self, lane: str) -> bool:
        """Is `lane` one that only this transaction knows of (a channel it creates)?"""
        if lane.startswith("new:"):
            return True
        channel = lane.split("|", 1)[0]  # (a channel's lanes: its id and "|topic" etc.)
        return placeholder_id(channel) in self.mine

    async def insert_now(self, conn: AsyncConnection, values: dict[str, Any]) -> tuple[int, Any]:
        """Insert a row at once: its id and blocker. On Postgres, in a transaction that holds
        rows back (it creates a channel), the same statement reserves ids for the next ones."""
        refill = self.postgres and self.reserved > 0
        statement, returning = (
            (_INSERT_RESERVING, _PG_RESERVING) if refill else (_INSERT_CLAIMED, _PG_RETURNING)
        )
        (row,) = await pg_inplace.execute_insert(conn, statement, [values], returning)
        row_id, blocker = int(row[0]), row[1]
        self.mine.add(row_id)
        if refill:
            # Drawn after the row's own id; checked anyway (only later ones may follow it).
            self.ids.extend(sorted(int(i) for i in row[2] if int(i) > row_id))
            self.reserved += BLOCK
        elif not self.postgres:
            self.next_id = row_id + 1
        return row_id, blocker

    async def flush(self, conn: AsyncConnection, *, forget: bool = False) -> None:
        if self.rows:
            rows, claimed = self.rows, self.claimed
            self.rows, self.claimed = [], []
            if not self.postgres and sqlite_driver.has_written(conn):
                # SQLite, inside the write: sqlite3 alone, as the ids were reserved.
                blockers = dict(sqlite_driver.execute_in_place(conn, *_sqlite_insert(rows)))
            else:
                # One INSERT of many rows, ids given: on Postgres through asyncpg alone, in
                # its transaction; else SQLAlchemy's insertmanyvalues.
                inserted = await pg_inplace.execute_insert(
                    conn, _INSERT_CLAIMED, rows, _PG_RETURNING
                )
                blockers = {i: b for i, b in inserted}
            for row in claimed:
                row.blocker = blockers[row.id]
        if forget:
            self.ids.clear()
            self.next_id = None


# The held rows' INSERT on SQLite without SQLAlchemy's execution machinery around it (0.4 ms
# of a status update's 8 before its post). Values as the column types store them (the
# table's types decide): times as SQLAlchemy's SQLite DATETIME text (naive UTC), JSON as its
# default serializer writes it. Every held row has the same keys (OutboxChat.enqueue), and
# one transaction's rows mostly the same times (its `now`): each converted once.
def _sqlite_insert(rows: Sequence[dict[str, Any]]) -> tuple[str, list[Any]]:
    columns = tuple(rows[0])
    sql, convert = _sqlite_form(columns, len(rows))
    params: list[Any] = []
    times: dict[datetime, str | None] = {}
    for row in rows:
        for column, to in zip(columns, convert, strict=True):
            value = row[column]
            if to is raw.sqlite_time and value is not None:
                text = times.get(value)
                if text is None:
                    text = times[value] = raw.sqlite_time(value)
                value = text
            elif to is not None:
                value = to(value)
            params.append(value)
    return sql, params


@functools.lru_cache(maxsize=32)
def _sqlite_form(columns: tuple[str, ...], n: int) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of `n` rows of these columns, and each column's conversion."""
    convert = tuple(_SQLITE_FORM.get(type(O.c[column].type)) for column in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    one = "(" + ", ".join("?" * len(columns)) + ")"
    sql = (
        f"INSERT INTO outbox ({names}) VALUES {', '.join([one] * n)}"
        f" RETURNING outbox.id, {_BLOCKER_SQL}"
    )
    return sql, convert


_SQLITE_FORM: dict[type, Any] = {UTCDateTime: raw.sqlite_time, JSONData: json.dumps}


# The same on Postgres, through asyncpg alone (pg_inplace.insert): the RETURNING of the held
# rows' INSERT and of a row inserted at once, and that of a row inserted at once in a
# transaction that holds rows back, which also reserves ids for the next ones.
_PG_RETURNING = f"RETURNING outbox.id AS id, {_BLOCKER_SQL} AS blocker"
_PG_RESERVING = f"{_PG_RETURNING}, {_NEXT_IDS} AS ids"
_PG_RESERVE = (
    "SELECT nextval(pg_get_serial_sequence('outbox', 'id')) FROM generate_series(1, $1::int)"
)


def _held(tx: session.Transaction) -> _Held:
    held: _Held | None = tx.outbox
    if held is None:
        held = tx.outbox = _Held(tx.engine.dialect.name == "postgresql")
        tx.before_commit.append(lambda: held.flush(tx.conn))
    return held


async def flushed(engine: AsyncEngine, *, forget: bool = False) -> None:
    """Insert the rows the ambient transaction holds back, if any: before anything in it
    reads outbox rows or writes one at once."""
    tx = session.ambient(engine)
    if tx is not None and tx.outbox is not None:
        await tx.outbox.flush(tx.conn, forget=forget)


class OutboxChat:
    """The Chat port as rows. Anything that is not a side effect (channel_link, platform
    helpers the adapters use) is the real chat's."""

    def __init__(self, chat: Chat, engine: AsyncEngine, clock: Clock, courier: Courier) -> None:
        self.chat = chat
        self.platform = chat.platform
        self.engine = engine
        self.clock = clock
        self.courier = courier

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chat, name)

    async def enqueue(
        self,
        kind: str,
        lane: str,
        args: dict[str, Any],
        *,
        available_at: datetime | None = None,
        snapshot: tuple[Incident, list[Task]] | None = None,
    ) -> int:
        """Write one effect (in the ambient transaction, if any); its row id. A row due now,
        written in a transaction, is claimed for the local worker and handed to it once the
        transaction commits; a row due later (`available_at`) waits for a claim. `snapshot`:
        the incident and tasks as this transaction has them, which the local worker draws a
        new checklist from instead of reading them again (a later change to the tasks is a
        later row of the same lane)."""
        refs = references(args)
        now = self.clock.now()
        due = available_at or now
        values = {
            "key": f"wr-{uuid.uuid4().hex}",
            "platform": self.platform,
            "lane": lane,
            "after": max(refs) if refs else None,
            "kind": kind,
            "args": args,
            "state": PENDING,
            "attempts": 0,
            "created_at": now,
            "available_at": due,
        }
        tx = session.ambient(self.engine)
        if tx is None or due > now:
            await flushed(self.engine, forget=True)
            async with session.begin(self.engine) as conn:
                row_id = int((await conn.execute(_INSERT, values)).scalar_one())
            if tx is None:
                self.courier.wake()
            else:
                tx.effects.append(row_id)
                if self.courier.wake not in tx.committed:
                    tx.committed.append(self.courier.wake)
            return row_id
        if tx.claim_token is None:
            tx.claim_token = uuid.uuid4().hex
            rows = tx.claimed
            tx.committing.append(lambda committing: self.courier.take(rows, committing))
        lease_until = now + timedelta(seconds=self.courier.lease_seconds)
        values |= {
            "claimed_by": self.courier.name,
            "claim_token": tx.claim_token,
            "lease_until": lease_until,
            "attempts": 1,
        }
        held = _held(tx)
        reserved = await held.reserve(tx.conn, lane)
        blocker = None
        if reserved is None:
            row_id, blocker = await held.insert_now(tx.conn, values)
        else:
            row_id = reserved
            held.rows.append(values | {"id": row_id})
        claimed = Claimed(
            row_id,
            values["key"],
            self.platform,
            lane,
            kind,
            args,
            1,
            values["after"],
            tx.claim_token,
            lease_until,
            blocker=blocker,
            refs=tuple(dict.fromkeys(refs)),
            fresh=True,
            snapshot=snapshot,
        )
        if reserved is not None:
            held.claimed.append(claimed)  # its blocker comes with the flush
        tx.effects.append(row_id)
        tx.claimed.append(claimed)
        return row_id

    async def create_channel(self, name: str, *, private: bool) -> Channel:
        row_id = await self.enqueue(
            "create_channel", f"new:{uuid.uuid4().hex}", {"name": name, "private": private}
        )
        return Channel(placeholder(row_id), name)

    async def invite(self, channel: Channel, users: Sequence[str]) -> None:
        await self.enqueue(
            "invite", channel.id + MEMBERS, {"channel": _channel(channel), "users": list(users)}
        )

    async def set_topic(self, channel: Channel, topic: str) -> None:
        args = {"channel": _channel(channel), "topic": topic}
        await self.enqueue("set_topic", channel.id + TOPIC, args)

    async def post(self, channel_id: str, text: str) -> str:
        return placeholder(
            await self.enqueue("post", channel_id, {"channel_id": channel_id, "text": text})
        )

    async def post_many(self, postings: Sequence[Posting]) -> list[str]:
        """Many posts as rows written by one statement (a batch of due reminders). A posting's
        `key` is its row's key and makes it idempotent: a posting whose key has a row already
        (it was posted before) writes nothing and stands for that row."""
        # Written unclaimed, in bulk: the claim loop delivers them (a claim-as-written INSERT per
        # row would cost a statement per reminder in a batch of hundreds).
        now = self.clock.now()
        rows = []
        for p in postings:
            args = {"channel_id": p.channel_id, "text": p.text}
            refs = references(args)
            rows.append(
                {
                    "key": p.key or f"wr-{uuid.uuid4().hex}",
                    "platform": self.platform,
                    "lane": p.channel_id,
                    "after": max(refs) if refs else None,
                    "kind": "post",
                    "args": args,
                    "state": PENDING,
                    "attempts": 0,
                    "created_at": now,
                    "available_at": now,
                }
            )
        if not rows:
            return []
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        # Matched back by key, not by RETURNING order: asking SQLAlchemy for the order
        # (sort_by_parameter_order) makes it insert one row per statement on SQLite.
        statement = (
            dialect.insert(O)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(O.c.id, O.c.key)
        )
        await flushed(self.engine, forget=True)
        async with session.begin(self.engine) as conn:
            by_key = {key: int(i) for i, key in await conn.execute(statement, rows)}
            new = list(by_key.values())
            missing = [row["key"] for row in rows if row["key"] not in by_key]
            if missing:
                found = await conn.execute(select(O.c.id, O.c.key).where(O.c.key.in_(missing)))
                by_key |= {key: int(i) for i, key in found}
        tx = session.ambient(self.engine)
        if tx is not None:
            tx.effects.extend(new)
            if new and self.courier.wake not in tx.committed:
                tx.committed.append(self.courier.wake)
        elif new:
            self.courier.wake()
        return [placeholder(by_key[row["key"]]) for row in rows]

    async def update(self, channel_id: str, message_id: str, text: str) -> None:
        args = {"channel_id": channel_id, "message_id": message_id, "text": text}
        await self.enqueue("update", channel_id, args)

    async def pin(self, channel_id: str, message_id: str) -> None:
        args = {"channel_id": channel_id, "message_id": message_id}
        await self.enqueue("pin", channel_id + PINS, args)

    async def post_checklist(self, channel_id: str, incident: Incident, tasks: list[Task]) -> str:
        # Drawn from the tasks as they are when delivered: a late delivery shows the present.
        args = {"channel_id": channel_id, "incident": incident.number}
        snapshot = (incident, list(tasks))
        return placeholder(
            await self.enqueue("post_checklist", channel_id, args, snapshot=snapshot)
        )

    async def update_checklist(
        self, channel_id: str, message_id: str, incident: Incident, tasks: list[Task]
    ) -> None:
        args = {"channel_id": channel_id, "message_id": message_id, "incident": incident.number}
        await self.enqueue("update_checklist", channel_id, args)

    async def upload(self, channel_id: str, filename: str, content: bytes, title: str) -> None:
        args = {
            "channel_id": channel_id,
            "filename": filename,
            "content": base64.b64encode(content).decode("ascii"),
            "title": title,
        }
        await self.enqueue("upload", channel_id, args)

    async def send_page(self, user: str, incident: Incident, text: str) -> str:
        args = {"user": user, "incident": incident.number, "text": text}
        return placeholder(await self.enqueue("send_page", f"dm:{user}", args))

    async def react_later(self, incident: Incident, event: dict[str, Any]) -> bool:
        """The playbook's reaction to `event` as a row of the ambient transaction, run by the
        local worker once it commits (bot/schedule/outbox.py); False, and nothing written,
        outside a transaction or before the incident has a channel (the caller reacts now)."""
        if session.ambient(self.engine) is None or not incident.channel_id:
            return False
        args = {"incident": incident.number, "event": event}
        await self.enqueue(REACT, incident.channel_id + PLAYBOOK, args)
        return True

    def channel_link(self, channel: Channel) -> str:
        row_id = placeholder_id(channel.id)
        if row_id is None:
            return self.chat.channel_link(channel)
        return f"⟦link:{row_id}:{channel.name}⟧"


@dataclass
class Claimed:
    id: int
    key: str
    platform: str
    lane: str
    kind: str
    args: dict[str, Any]
    attempts: int
    after: int | None
    token: str
    lease_until: datetime | None = None  # as the database has it
    # Written and claimed in a committed transaction of this process (not read back):
    # `blocker` is the latest earlier row of its lane under another claim, `refs` the rows
    # whose results it names.
    blocker: int | None = None
    refs: tuple[int, ...] = ()
    fresh: bool = False
    snapshot: tuple[Incident, list[Task]] | None = None


COLUMNS = (O.c.id, O.c.key, O.c.platform, O.c.lane, O.c.kind, O.c.args, O.c.attempts, O.c.after)


# A row may go now: due, not under a live lease, and not waiting for a pending row it names.
_READY = (
    "r.available_at <= :now AND (r.lease_until IS NULL OR r.lease_until < :now)"
    ' AND (r."after" IS NULL OR NOT EXISTS (SELECT 1 FROM outbox AS d'
    " WHERE d.id = r.\"after\" AND d.state = 'pending'))"
)
# The claim walks lanes, not rows: `lanes` steps from one lane with pending rows to the next
# (one probe of ix_outbox_pending each), `walk` takes each lane's head and the rows after it
# while they may go (a lane's rows go in id order; a row that may not go holds the rest of its
# lane). So a claim costs a probe per lane plus one per row it takes, whatever the number of
# pending rows and whatever the planner's statistics say: nothing is sorted, and LIMIT stops
# the walk (breadth first: the heads of many lanes before the second rows of a few). The
# literal 'pending' is what lets the planner use the partial index.
_WALK = """
WITH RECURSIVE lanes(lane) AS (
    SELECT min(o.lane) FROM outbox AS o{pending} WHERE o.state = 'pending'
  UNION ALL
    SELECT (SELECT min(o.lane) FROM outbox AS o{pending}
            WHERE o.state = 'pending' AND o.lane > l.lane)
    FROM lanes AS l WHERE l.lane IS NOT NULL
),
walk(lane, id, depth) AS (
    SELECT r.lane, r.id, 1 FROM lanes AS l JOIN outbox AS r
        ON r.state = 'pending' AND r.lane = l.lane AND r.id = (
        SELECT min(h.id) FROM outbox AS h{pending} WHERE h.state = 'pending' AND h.lane = l.lane)
    WHERE {ready}
  UNION ALL
    SELECT r.lane, r.id, w.depth + 1 FROM walk AS w JOIN outbox AS r
        ON r.state = 'pending' AND r.lane = w.lane AND r.id = (
        SELECT min(x.id) FROM outbox AS x{pending}
        WHERE x.state = 'pending' AND x.lane = w.lane AND x.id > w.id)
    WHERE w.depth < :limit AND {ready}
)"""
_CLAIM_SET = (
    "SET claimed_by = :me, claim_token = :token, lease_until = :until,"
    " attempts = outbox.attempts + 1"
)
# Checked again on the row as locked: a row finished or claimed since the walk's snapshot.
# "Not finished" rather than "= 'pending'": that would let the planner (whose statistics may
# be stale) read the chosen ids off the partial index, all of it, instead of the primary key.
_STILL_FREE = (
    "outbox.state NOT IN ('done', 'failed')"
    " AND (outbox.lease_until IS NULL OR outbox.lease_until < :now)"
)
_RETURNING = (
    "RETURNING outbox.id, outbox.key, outbox.platform, outbox.lane, outbox.kind,"
    ' outbox.args, outbox.attempts, outbox."after"'
)


def _claim_statement(postgres: bool) -> Any:
    """The one claim statement, built once (building it cost more CPU than running it)."""
    if postgres:
        # FOR UPDATE is not allowed in a recursive query: the rows it picked are locked by a
        # plain SELECT over them, skipping those another transaction holds.
        # As an array, computed once: as `IN (...)` the planner may probe it for every
        # pending row.
        chosen = (
            "outbox.id = ANY(ARRAY(SELECT c.id FROM outbox AS c WHERE c.id IN"
            " (SELECT id FROM walk LIMIT :limit) FOR UPDATE OF c SKIP LOCKED))"
        )
        walk = _WALK.format(pending="", ready=_READY)
        sql = f"{walk}\nUPDATE outbox {_CLAIM_SET}\nWHERE {chosen} AND {_STILL_FREE}\n{_RETURNING}"
    else:
        # One writer at a time: nothing to skip. SQLite, without statistics, would find lanes
        # through ix_outbox_due (every pending row). The WITH goes inside: Python's sqlite3
        # opens its transaction only before a statement that starts with UPDATE.
        walk = _WALK.format(pending=" INDEXED BY ix_outbox_pending", ready=_READY)
        chosen = f"outbox.id IN ({walk}\nSELECT id FROM walk LIMIT :limit)"
        sql = f"UPDATE outbox {_CLAIM_SET}\nWHERE {chosen} AND {_STILL_FREE}\n{_RETURNING}"
    when = O.c.lease_until.type
    return (
        text(sql)
        .bindparams(
            bindparam("now", type_=when),
            bindparam("until", type_=when),
            bindparam("limit", type_=Integer),
        )
        .columns(*COLUMNS)
    )


class SqlOutbox:
    """Claiming, renewing and finishing outbox rows."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._claim = _claim_statement(self._postgres)

    async def claim(
        self, me: str, now: datetime, *, limit: int, lease_seconds: float
    ) -> list[Claimed]:
        token = uuid.uuid4().hex
        until = now + timedelta(seconds=lease_seconds)
        params = {"now": now, "limit": limit, "me": me, "token": token, "until": until}
        async with session.begin(self.engine) as conn:
            if self._postgres:
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({CLAIM_LOCK})"))
            rows = (await conn.execute(self._claim, params)).all()
        claimed = (Claimed(*row, token=token, lease_until=until) for row in rows)
        return sorted(claimed, key=lambda c: c.id)

    async def renew(self, token: str, until: datetime) -> set[int]:
        """Extend the lease of rows still claimed by `token`; their ids."""
        async with session.begin(self.engine) as conn:
            rows = await conn.execute(
                update(O)
                .where(O.c.claim_token == token, O.c.state == PENDING)
                .values(lease_until=until)
                .returning(O.c.id)
            )
            return {row.id for row in rows}

    async def results(
        self, ids: Sequence[int]
    ) -> dict[int, tuple[str, dict[str, Any] | None, str]]:
        """id -> (state, result, platform) of the rows asked for."""
        if not ids:
            return {}
        await flushed(self.engine)
        async with session.connect(self.engine) as conn:
            rows = await conn.execute(
                select(O.c.id, O.c.state, O.c.result, O.c.platform).where(
                    O.c.id.in_(list(set(ids)))
                )
            )
            return {row.id: (row.state, row.result, row.platform) for row in rows}

    async def release(self, row: Claimed) -> None:
        """Give back a claimed row that was not attempted (it waits for an earlier one)."""
        async with session.begin(self.engine) as conn:
            await conn.execute(
                update(O)
                .where(O.c.id == row.id, O.c.claim_token == row.token, O.c.state == PENDING)
                .values(
                    lease_until=None, claimed_by=None, claim_token=None, attempts=O.c.attempts - 1
                )
            )

    async def finish_many(
        self, delivered: Sequence[tuple[Claimed, dict[str, Any] | None]], now: datetime
    ) -> list[bool]:
        """Record deliveries in one transaction, each fenced by its claim token, and put the
        real ids in place of the stand-ins the incident (and later rows) hold."""
        tokens = {row.token for row, _ in delivered}
        done: set[int] = set()
        messages: dict[str, str] = {}  # stand-in -> message id
        async with session.begin(self.engine) as conn:
            for token in tokens:  # one statement per claim (a batch has one)
                mine = [(row, result) for row, result in delivered if row.token == token]
                done |= await self._done(conn, token, mine, now)
            for row, result in delivered:
                if row.id not in done or not result:
                    continue
                if row.kind == "create_channel":
                    await self._created(conn, placeholder(row.id), result)
                elif row.kind in ("post", "post_checklist", "send_page"):
                    messages[placeholder(row.id)] = str(result["id"])
                elif row.kind in ("update", "update_checklist") and result.get("moved"):
                    messages[str(result["from"])] = str(result["moved"])
            if messages:
                await self._messages(conn, messages)
        return [row.id in done for row, _ in delivered]

    async def finish_here(self, row: Claimed, now: datetime) -> bool:
        """Mark one row done in the ambient transaction (a playbook reaction's), fenced by its
        claim: False if the claim is no longer the row's."""
        async with session.begin(self.engine) as conn:
            return row.id in await self._done(conn, row.token, [(row, None)], now)

    @staticmethod
    async def _done(
        conn: AsyncConnection,
        token: str,
        rows: Sequence[tuple[Claimed, dict[str, Any] | None]],
        now: datetime,
    ) -> set[int]:
        """Mark rows done, fenced by their claim; the ids that were still this claim's."""
        results = {row.id: result for row, result in rows if result is not None}
        values: dict[str, Any] = {
            "state": DONE,
            "finished_at": now,
            "lease_until": None,
            "error": None,
        }
        if results:
            values["result"] = case(
                {i: literal(r, O.c.result.type) for i, r in results.items()}, value=O.c.id
            )
        marked = await conn.execute(
            update(O)
            .where(
                O.c.id.in_([row.id for row, _ in rows]),
                O.c.claim_token == token,
                O.c.state == PENDING,
            )
            .values(**values)
            .returning(O.c.id)
        )
        return {row.id for row in marked}

    @staticmethod
    async def _created(conn: AsyncConnection, stand_in: str, result: dict[str, Any]) -> None:
        await conn.execute(
            update(I)
            .where(I.c.channel_id == stand_in)
            .values(channel_id=result["id"], channel_name=result["name"])
        )
        await conn.execute(
            update(O)
            .where(O.c.lane.in_(lanes_of(stand_in)))
            .values(lane=func.replace(O.c.lane, stand_in, result["id"]))
        )

    @staticmethod
    async def _messages(conn: AsyncConnection, moved: dict[str, str]) -> None:
        """One statement for the summary and checklist ids among `moved` (old -> new)."""
        olds = list(moved)
        await conn.execute(
            update(I)
            .where(or_(I.c.summary_message_id.in_(olds), I.c.checklist_message_id.in_(olds)))
            .values(
                summary_message_id=case(
                    moved, value=I.c.summary_message_id, else_=I.c.summary_message_id
                ),
                checklist_message_id=case(
                    moved, value=I.c.checklist_message_id, else_=I.c.checklist_message_id
                ),
            )
        )

    async def retry(self, row: Claimed, error: str, at: datetime) -> bool:
        async with session.begin(self.engine) as conn:
            result = await conn.execute(
                update(O)
                .where(O.c.id == row.id, O.c.claim_token == row.token, O.c.state == PENDING)
                .values(
                    available_at=at,
                    lease_until=None,
                    claimed_by=None,
                    claim_token=None,
                    error=error[:500],
                )
                .returning(O.c.id)
            )
            return result.first() is not None

    async def fail(self, row: Claimed, error: str, now: datetime) -> bool:
        async with session.begin(self.engine) as conn:
            result = await conn.execute(
                update(O)
                .where(O.c.id == row.id, O.c.claim_token == row.token, O.c.state == PENDING)
                .values(state=FAILED, error=error[:500], finished_at=now, lease_until=None)
                .returning(O.c.id)
            )
            return result.first() is not None

    async def count(self, state: str = PENDING) -> int:
        await flushed(self.engine)
        async with session.connect(self.engine) as conn:
            rows = await conn.execute(select(O.c.id).where(O.c.state == state))
            return len(rows.all())


WHAT = {
    "create_channel": "creating the channel",
    "invite": "inviting people",
    "set_topic": "setting the topic",
    "post": "posting a message",
    "update": "updating a message",
    "pin": "pinning the summary",
    "post_checklist": "posting the checklist",
    "update_checklist": "updating the checklist",
    "upload": "uploading the postmortem",
    "send_page": "sending a page",
    REACT: "the playbook's reaction",
}


async def failed_lines(conn: AsyncConnection, channel_id: str) -> list[str]:
    # (No flush first: rows held back by a transaction are pending, never failed.)
    lanes = [O.c.lane.in_(lanes_of(channel_id))]
    own = placeholder_id(channel_id)
    if own is not None:
        lanes.append(O.c.id == own)
    rows = await conn.execute(
        select(O.c.kind, O.c.attempts, O.c.error, O.c.finished_at)
        .where(O.c.state == FAILED, or_(*lanes))
        .order_by(O.c.id)
    )
    return [
        f"{WHAT.get(row.kind, row.kind)} failed after {row.attempts} attempts: {row.error}"
        for row in rows
    ]
