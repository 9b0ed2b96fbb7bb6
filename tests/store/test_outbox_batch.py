"""Rows written in a transaction are held back and inserted by one statement as it commits
(bot/store/outbox.py `_Held`): a transaction's statements do not grow with its rows, and ids,
`after` and blockers come out as a statement per row gave them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.clock import ManualClock
from bot.core.ports import Channel, Posting
from bot.store import migrate, session
from bot.store.outbox import BLOCK, Claimed, O, OutboxChat, SqlOutbox, placeholder_id
from bot.store.session import Committing
from bot.store.sql import SqlStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Courier:
    """The local worker, recording what it is handed."""

    name = "me"
    lease_seconds = 60.0

    def __init__(self) -> None:
        self.handed: list[tuple[list[Claimed], Committing | None]] = []
        self.woken = 0

    def take(self, rows: Sequence[Claimed], committing: Committing | None = None) -> None:
        self.handed.append((list(rows), committing))

    @property
    def taken(self) -> list[Claimed]:
        """What it was handed and may deliver: rows of transactions that committed (a
        worker is handed them as their transaction commits, and waits for the outcome)."""
        return [
            row
            for rows, committing in self.handed
            if committing is None or (committing.outcome.done() and committing.outcome.result())
            for row in rows
        ]

    def wake(self) -> None:
        self.woken += 1


class Platform:
    platform = "slack"


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    store = SqlStore.from_url(request.getfixturevalue(f"{request.param}_url"))
    await migrate.upgrade(store.engine)
    try:
        yield store.engine
    finally:
        await store.close()


def outbox(engine: AsyncEngine) -> OutboxChat:
    return OutboxChat(Platform(), engine, ManualClock(NOW), Courier())  # type: ignore[arg-type]


def courier(chat: OutboxChat) -> Courier:
    assert isinstance(chat.courier, Courier)
    return chat.courier


async def committed_row(engine: AsyncEngine, lane: str, **columns: Any) -> int:
    """A row some earlier transaction (of another claim, or none) committed."""
    values = {
        "key": f"wr-{uuid.uuid4().hex}",
        "platform": "slack",
        "lane": lane,
        "kind": "post",
        "args": {"channel_id": lane, "text": "earlier"},
        "state": "pending",
        "attempts": 0,
        "created_at": NOW,
        "available_at": NOW,
    } | columns
    async with engine.begin() as conn:
        return int((await conn.execute(insert(O).returning(O.c.id), values)).scalar_one())


async def stored(engine: AsyncEngine) -> dict[int, Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(O.c.id, O.c.lane, O.c.after, O.c.claim_token, O.c.args))
        return {row.id: row for row in rows}


async def declaration(chat: OutboxChat, posts: int) -> Channel:
    """A declaration's kind of rows: a channel, rows in its lanes naming it, an announcement
    in an existing channel, and a checklist in the new one."""
    channel = await chat.create_channel("inc-1-db", private=False)
    await chat.invite(channel, ["U1"])
    await chat.set_topic(channel, "sev3")
    for n in range(posts):
        await chat.post(channel.id, f"post {n} in {chat.channel_link(channel)}")
    await chat.post("C0ANNOUNCE", f"declared: {chat.channel_link(channel)}")
    await chat.post(channel.id, "checklist")
    return channel


@pytest.mark.parametrize("posts", [0, 5, BLOCK - 4])
async def test_a_transactions_outbox_statements_do_not_grow_with_its_rows(
    engine: AsyncEngine, posts: int
) -> None:
    chat = outbox(engine)
    await committed_row(engine, "C0ANNOUNCE", claim_token="other", attempts=1)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "outbox" in statement:
            statements.append(statement.split(None, 1)[0])

    def traced(statement: str) -> None:  # SQLite: what sqlite3 ran, with or without SQLAlchemy
        if "outbox" in statement and not statement.startswith(("BEGIN", "COMMIT")):
            statements.append(statement.split(None, 1)[0])

    sqlite = engine.dialect.name == "sqlite"
    if not sqlite:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with session.transaction(engine) as tx:
            if sqlite:
                driver = tx.conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]
                driver._conn.set_trace_callback(traced)
            await declaration(chat, posts)
            written = list(tx.effects)
    finally:
        if sqlite:
            driver._conn.set_trace_callback(None)
        else:
            event.remove(engine.sync_engine, "before_cursor_execute", record)

    assert len(written) == posts + 5
    if engine.dialect.name == "postgresql":
        # Ids reserved for the new channel's rows, the announcement (a lane others write
        # too) inserted at once (reserving ids for the checklist), the held rows in one.
        assert statements == ["SELECT", "INSERT", "INSERT"]
    else:
        # The first row at once (it takes the write lock), then the rest in one INSERT (run
        # by sqlite3 alone: the ids were reserved under that lock).
        assert statements == ["INSERT", "INSERT"]
    rows = await stored(engine)
    assert set(written) <= set(rows) and written == sorted(written)
    assert [r.id for r in courier(chat).taken] == written  # handed over once, after commit


async def test_more_rows_than_a_block_cost_a_reservation_per_doubling(
    pg_engine: AsyncEngine,
) -> None:
    chat = outbox(pg_engine)
    reservations = 0

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal reservations
        reservations += "nextval" in statement

    event.listen(pg_engine.sync_engine, "before_cursor_execute", record)
    try:
        async with session.transaction(pg_engine) as tx:
            channel = await chat.create_channel("inc-1", private=False)
            for n in range(4 * BLOCK - 1):  # BLOCK, then BLOCK more, then 2 x BLOCK
                await chat.post(channel.id, f"post {n}")
    finally:
        event.remove(pg_engine.sync_engine, "before_cursor_execute", record)
    assert reservations == 3
    assert tx.effects == sorted(tx.effects) and set(tx.effects) <= set(await stored(pg_engine))


async def test_ids_placeholders_and_blockers_are_those_of_a_statement_per_row(
    engine: AsyncEngine,
) -> None:
    other = await committed_row(engine, "C1", claim_token="other", attempts=1)
    await committed_row(engine, "C2", state="done")  # not pending: blocks nothing
    unclaimed = await committed_row(engine, "C3")  # pending, nobody's yet: blocks
    chat = outbox(engine)
    async with session.transaction(engine):
        channel = await chat.create_channel("inc-1", private=False)
        first = await chat.post("C1", "one")
        second = await chat.post("C1", f"two, after {first} in {chat.channel_link(channel)}")
        await chat.post("C2", "three")
        await chat.post("C3", "four")
        await chat.pin(channel.id, second)
    taken = {row.id: row for row in courier(chat).taken}
    rows = await stored(engine)
    ids = sorted(taken)
    assert placeholder_id(channel.id) == ids[0]
    assert all(rows[i].claim_token == taken[i].token for i in ids)
    c1a, c1b, c2, c3, pin = ids[1:]
    assert [taken[i].blocker for i in ids] == [None, other, other, None, unclaimed, None]
    assert placeholder_id(first) == c1a and placeholder_id(second) == c1b
    assert rows[c1b].after == c1a and rows[c1b].args["text"].startswith(
        f"two, after ⟦outbox:{c1a}⟧"
    )
    assert rows[pin].after == c1b and rows[pin].lane == channel.id + "|pins"
    assert [rows[i].lane for i in (c2, c3)] == ["C2", "C3"]


@pytest.mark.parametrize("lane", ["C1", "new channel"])
async def test_rows_written_at_once_in_between_keep_the_ids_in_the_order_written(
    engine: AsyncEngine, lane: str
) -> None:
    """A row due later and post_many insert at once: what is held back goes in first, and
    the rows held back after them take ids after theirs (the lane's order, and on SQLite no
    id given twice). In an existing channel's lane and in one the transaction creates (on
    Postgres only the latter's rows are held back)."""
    chat = outbox(engine)
    later = NOW + timedelta(hours=1)
    async with session.transaction(engine) as tx:
        if lane != "C1":
            lane = (await chat.create_channel("inc-1", private=False)).id
        args = {"channel_id": lane}
        a = await chat.enqueue("post", lane, args | {"text": "a"})
        b = await chat.enqueue("post", lane, args | {"text": "b"})
        (many,) = await chat.post_many([Posting(lane, "reminder", key="reminder-1")])
        c = await chat.enqueue("post", lane, args | {"text": "c"})
        due = await chat.enqueue("post", lane, args | {"text": "d"}, available_at=later)
        e = await chat.enqueue("post", lane, args | {"text": "e"})
        f = await chat.enqueue("post", lane, args | {"text": "f"})
        written = [i for i in tx.effects if i != placeholder_id(lane)]
    m = placeholder_id(many)
    assert written == [a, b, m, c, due, e, f] == sorted(written)
    rows = await stored(engine)
    assert [rows[i].args["text"] for i in written] == ["a", "b", "reminder", "c", "d", "e", "f"]
    assert {rows[i].lane for i in written} == {lane}
    blockers = {row.id: row.blocker for row in courier(chat).taken if row.lane == lane}
    # Rows nobody claimed yet (post_many's, the one due later) hold the rows after them.
    assert blockers == {a: None, b: None, c: m, e: due, f: due}
    assert courier(chat).woken == 1


async def test_reads_in_the_transaction_see_rows_held_back_and_a_rollback_writes_none(
    engine: AsyncEngine,
) -> None:
    chat = outbox(engine)
    reader = SqlOutbox(engine)
    with pytest.raises(RuntimeError):
        async with session.transaction(engine):
            row = await chat.post("C1", "seen")
            await chat.post("C1", "seen too")
            assert await reader.count() == 2
            assert set(await reader.results([placeholder_id(row) or 0])) == {placeholder_id(row)}
            raise RuntimeError("the command failed")
    assert await stored(engine) == {}
    assert courier(chat).taken == []


async def test_two_concurrent_transactions_get_their_own_increasing_ids_and_right_blockers(
    pg_engine: AsyncEngine,
) -> None:
    """A and B each create a channel and write in it (ids reserved, B's block after A's);
    A outgrows its block meanwhile, posts to C1 and commits; then B posts to C1 and in its
    channel, and commits. Each one's ids increase in the order it wrote them, and B's C1 row,
    written after A's committed, comes after it and waits for it, as with a nextval per row."""
    a_chat, b_chat = outbox(pg_engine), outbox(pg_engine)
    a_started, b_started, a_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def a() -> list[int]:
        async with session.transaction(pg_engine) as tx:
            channel = await a_chat.create_channel("inc-1", private=False)
            a_started.set()
            await b_started.wait()
            for n in range(BLOCK + 2):
                await a_chat.post(channel.id, f"a{n}")
            await a_chat.post("C1", "a in C1")
            written = list(tx.effects)
        a_done.set()
        return written

    async def b() -> list[int]:
        await a_started.wait()
        async with session.transaction(pg_engine) as tx:
            channel = await b_chat.create_channel("inc-2", private=False)
            await b_chat.set_topic(channel, "b")
            b_started.set()
            await a_done.wait()
            await b_chat.post("C1", "b in C1")
            await b_chat.post(channel.id, "b after C1")
            return list(tx.effects)

    a_ids, b_ids = await asyncio.gather(a(), b())
    assert a_ids == sorted(a_ids) and b_ids == sorted(b_ids)
    assert not set(a_ids) & set(b_ids)
    rows = await stored(pg_engine)
    assert set(a_ids) | set(b_ids) == set(rows)
    texts = [rows[i].args.get("text") for i in a_ids[1:]]
    assert texts == [f"a{n}" for n in range(BLOCK + 2)] + ["a in C1"]
    # Reserved: A's first block, B's, A's second; B's C1 row drawn after A committed.
    assert a_ids[0] < b_ids[0] < b_ids[1] < a_ids[BLOCK]
    a_c1, b_c1 = a_ids[-1], b_ids[2]
    assert rows[a_c1].lane == rows[b_c1].lane == "C1" and b_c1 > max(a_ids)
    a_taken = {r.id: r for r in courier(a_chat).taken}
    b_taken = {r.id: r for r in courier(b_chat).taken}
    assert all(r.blocker is None for r in a_taken.values())
    assert [b_taken[i].blocker for i in b_ids] == [None, None, a_c1, None]
    assert rows[b_ids[3]].lane == f"⟦outbox:{b_ids[0]}⟧"  # its channel's lane, not C1
    assert {r.token for r in a_taken.values()} != {r.token for r in b_taken.values()}


async def test_a_transaction_that_writes_no_rows_pays_nothing_for_the_outbox(
    engine: AsyncEngine,
) -> None:
    async with session.transaction(engine) as tx:
        pass
    assert tx.outbox is None and tx.before_commit == []
    chat = outbox(engine)
    async with session.transaction(engine):
        await chat.invite(Channel("C1", "c1"), ["U1"])
    assert len(courier(chat).taken) == 1


async def test_rows_held_after_a_write_read_back_as_rows_written_at_once(
    engine: AsyncEngine,
) -> None:
    """A transaction that wrote before its first outbox row (a status update) holds even
    that row back (on SQLite its ids come from max(id) under the write lock, and the INSERT
    runs on sqlite3 alone): the rows read back as the engine's own INSERT writes them."""
    chat = outbox(engine)
    args = {"channel_id": "C1", "text": 'Rolled back ✓ "quoted"', "n": [1, None, True]}
    alone = await committed_row(
        engine, "C1", args=args, claim_token="x", lease_until=NOW, claimed_by="me", attempts=1
    )
    async with session.transaction(engine) as tx:
        await tx.conn.execute(
            insert(O.metadata.tables["inbox"]).values(
                key="k1", platform="slack", kind="event", payload={}, received_at=NOW, state="done"
            )
        )
        first = placeholder_id(await chat.post("C1", args["text"]))
        second = placeholder_id(await chat.post("C2", "second"))
    assert first is not None and second == first + 1 and first > alone
    async with engine.connect() as conn:
        rows = {
            r.id: r
            for r in await conn.execute(
                select(O).where(O.c.id.in_([alone, first, second])).order_by(O.c.id)
            )
        }
    written, earlier = rows[first], rows[alone]
    assert written.args == {"channel_id": "C1", "text": args["text"]}
    assert written.created_at == written.available_at == NOW
    assert written.lease_until == NOW + timedelta(seconds=60)
    assert (written.state, written.attempts, written.claimed_by) == ("pending", 1, "me")
    assert type(written.created_at) is type(earlier.created_at)
    assert [r.id for r in courier(chat).taken] == [first, second]
    # The earlier row of C1, under another claim, is what the first waits for.
    assert [r.blocker for r in courier(chat).taken] == [alone, None]
