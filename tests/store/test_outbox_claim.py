"""SqlOutbox.claim: which rows one claim takes (the lane walk over ix_outbox_pending)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from bot.store import migrate
from bot.store.outbox import O, SqlOutbox
from bot.store.sql import SqlStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def outbox(request: pytest.FixtureRequest) -> AsyncIterator[SqlOutbox]:
    store = SqlStore.from_url(request.getfixturevalue(f"{request.param}_url"))
    await migrate.upgrade(store.engine)
    try:
        yield SqlOutbox(store.engine)
    finally:
        await store.close()


async def write(outbox: SqlOutbox, lane: str, **columns: Any) -> int:
    values = {
        "key": f"wr-{uuid.uuid4().hex}",
        "platform": "slack",
        "lane": lane,
        "kind": "post",
        "args": {"channel_id": lane, "text": "x"},
        "state": "pending",
        "attempts": 0,
        "created_at": NOW,
        "available_at": NOW,
    } | columns
    async with outbox.engine.begin() as conn:
        return int((await conn.execute(insert(O).returning(O.c.id), values)).scalar_one())


async def claim(outbox: SqlOutbox, limit: int = 100) -> list[int]:
    rows = await outbox.claim("me", NOW, limit=limit, lease_seconds=60)
    return [row.id for row in rows]


async def test_a_claim_takes_each_lanes_rows_up_to_the_first_that_may_not_go(
    outbox: SqlOutbox,
) -> None:
    later, live = NOW + timedelta(minutes=5), NOW + timedelta(seconds=30)
    gone = NOW - timedelta(seconds=1)  # its worker died: any replica may take it over
    a1 = await write(outbox, "A")
    await write(outbox, "A", available_at=later)  # a retry coming due: holds the rest of A
    await write(outbox, "A")
    await write(outbox, "B", lease_until=live, claim_token="other", attempts=1)
    await write(outbox, "B")  # behind a row another worker is delivering
    waited = await write(outbox, "D", available_at=later)
    await write(outbox, "C", after=waited)  # names a pending row: waits, and so does C's next
    await write(outbox, "C")
    d_expired = await write(outbox, "E", lease_until=gone, claim_token="dead", attempts=1)
    e2 = await write(outbox, "E")
    await write(outbox, "F", state="done")
    f2 = await write(outbox, "F")

    assert sorted(await claim(outbox)) == [a1, d_expired, e2, f2]
    # Claimed now: nothing more goes until they are finished.
    assert await claim(outbox) == []
    async with outbox.engine.connect() as conn:
        attempts = dict(
            (await conn.execute(select(O.c.id, O.c.attempts).where(O.c.claimed_by == "me"))).all()
        )
    assert attempts == {a1: 1, d_expired: 2, e2: 1, f2: 1}


async def test_a_small_claim_takes_lanes_heads_first_and_never_a_row_without_its_elders(
    outbox: SqlOutbox,
) -> None:
    lanes = {lane: [await write(outbox, lane) for _ in range(3)] for lane in ("A", "B", "C")}
    first = await claim(outbox, limit=4)
    assert len(first) == 4
    for rows in lanes.values():
        taken = [row for row in rows if row in first]
        assert taken == rows[: len(taken)]  # a lane's rows are taken in order, from its head
    assert {rows[0] for rows in lanes.values()} <= set(first)  # every head before any second
    # The lanes are under this claim now: the next claim takes none of their later rows.
    assert await claim(outbox) == []
