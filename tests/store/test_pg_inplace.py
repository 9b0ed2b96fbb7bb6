"""bot/store/pg_inplace.py: the outbox's INSERTs on Postgres through asyncpg alone, inside
the transaction SQLAlchemy began: the same rows as SQLAlchemy writes, in the same
transaction (gone with its rollback), and a lost connection is StoreUnavailable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.ports import StoreUnavailable
from bot.store import pg_inplace, session
from bot.store.outbox import _PG_RETURNING, O

NOW = datetime(2026, 12, 3, 14, 0, 0, 123456, tzinfo=UTC)


def row(lane: str) -> dict[str, Any]:
    return {
        "key": f"wr-{uuid.uuid4().hex}",
        "platform": "slack",
        "lane": lane,
        "after": None,
        "kind": "post",
        "args": {"channel": lane, "text": "Rolling back", "blocks": [{"n": 1}], "none": None},
        "state": "pending",
        "attempts": 1,
        "created_at": NOW,
        "available_at": NOW,
        "claimed_by": "host:1",
        "claim_token": "token",
        "lease_until": NOW + timedelta(seconds=60),
    }


async def test_rows_written_through_asyncpg_read_back_as_sqlalchemys(
    pg_engine: AsyncEngine,
) -> None:
    ours, theirs = row("C1"), row("C2")
    async with session.transaction(pg_engine) as tx:
        await tx.conn.execute(insert(O).values(theirs))
        assert pg_inplace.connection(tx.conn) is not None
        returned = await pg_inplace.insert(tx.conn, O, [ours], _PG_RETURNING)
        assert returned is not None
        (written,) = returned
        assert written["blocker"] is None
    async with pg_engine.connect() as conn:
        got = {r.lane: r for r in await conn.execute(select(O))}
    skip = {"id", "key", "lane", "args"}
    assert got["C1"].id == written["id"]
    assert {k: v for k, v in got["C1"]._mapping.items() if k not in skip} == {
        k: v for k, v in got["C2"]._mapping.items() if k not in skip
    }
    assert got["C1"].args == ours["args"] == theirs["args"] | {"channel": "C1"}
    assert got["C1"].lease_until == NOW + timedelta(seconds=60)


async def test_only_inside_the_transaction_and_gone_with_its_rollback(
    pg_engine: AsyncEngine,
) -> None:
    with pytest.raises(RuntimeError, match="rolled back"):
        async with session.transaction(pg_engine) as tx:
            # SQLAlchemy begins with the transaction's first statement: before it, a
            # statement here would run outside the transaction, so none runs here.
            assert pg_inplace.connection(tx.conn) is None
            assert await pg_inplace.insert(tx.conn, O, [row("C1")]) is None
            await tx.conn.execute(text("SELECT 1"))
            assert await pg_inplace.insert(tx.conn, O, [row("C1")]) == []  # (no RETURNING)
            raise RuntimeError("rolled back")
    async with pg_engine.connect() as conn:
        assert (await conn.execute(select(O.c.id))).all() == []


async def test_a_lost_connection_is_the_database_being_unavailable(
    pg_engine: AsyncEngine,
) -> None:
    with pytest.raises(StoreUnavailable):
        async with session.transaction(pg_engine) as tx:
            await tx.conn.execute(text("SELECT 1"))
            raw = pg_inplace.connection(tx.conn)
            assert raw is not None
            async with pg_engine.connect() as other:
                await other.execute(
                    text("SELECT pg_terminate_backend(:pid)"), {"pid": raw.get_server_pid()}
                )
            await pg_inplace.insert(tx.conn, O, [row("C1")])


async def test_cursor_listeners_see_these_statements_as_sqlalchemys(
    pg_engine: AsyncEngine,
) -> None:
    # What counts or traces statements through SQLAlchemy's events sees these too.
    seen: list[tuple[str, str]] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(("before", statement.split()[0]))

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(("after", statement.split()[0]))

    event.listen(pg_engine.sync_engine, "before_cursor_execute", before)
    event.listen(pg_engine.sync_engine, "after_cursor_execute", after)
    try:
        async with session.transaction(pg_engine) as tx:
            await tx.conn.execute(text("SELECT 1"))
            assert await pg_inplace.insert(tx.conn, O, [row("C1")], _PG_RETURNING)
    finally:
        event.remove(pg_engine.sync_engine, "before_cursor_execute", before)
        event.remove(pg_engine.sync_engine, "after_cursor_execute", after)
    assert seen == [
        ("before", "SELECT"),
        ("after", "SELECT"),
        ("before", "INSERT"),
        ("after", "INSERT"),
    ]
