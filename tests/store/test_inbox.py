"""SqlInbox: accepting and finishing share the writer's group commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.core.clock import ManualClock
from bot.core.ports import Accepted
from bot.store import migrate
from bot.store.inbox import SqlInbox
from bot.store.sql import SqlStore
from bot.store.tables import InboxRow

INBOX = InboxRow.__table__


@pytest.fixture(params=["sqlite", "postgres"])
async def inbox(request: pytest.FixtureRequest) -> AsyncIterator[SqlInbox]:
    store = SqlStore.from_url(request.getfixturevalue(f"{request.param}_url"))
    await migrate.upgrade(store.engine)
    running = SqlInbox(store.engine, ManualClock())
    try:
        yield running
    finally:
        await running.close()
        await store.close()


async def states(inbox: SqlInbox) -> dict[str, str]:
    async with inbox.engine.connect() as conn:
        rows = await conn.execute(select(INBOX.c.key, INBOX.c.state))
        return dict(rows.all())


async def test_reads_finished_together_cost_one_commit_and_each_key_finishes_once(
    inbox: SqlInbox,
) -> None:
    keys = [f"slack:command:{n}" for n in range(3)]
    accepted = await asyncio.gather(
        *(inbox.accept(key, "slack", "command", {"n": n}) for n, key in enumerate(keys))
    )
    assert accepted == [Accepted.NEW] * 3
    before = inbox.commits
    # A burst of reads done at once, one of them finished twice (a replay racing the first).
    finished = await asyncio.gather(*(inbox.finish(key) for key in [*keys, keys[0]]))
    assert finished == [True, True, True, False]
    assert inbox.commits == before + 1
    assert await states(inbox) == dict.fromkeys(keys, "done")
    assert await inbox.finish(keys[1]) is False  # done already: nothing to answer again
    assert await inbox.replay_pending() == 0


async def test_an_accept_and_a_finish_queued_together_commit_together(inbox: SqlInbox) -> None:
    await inbox.accept("slack:command:read", "slack", "command", {})
    before = inbox.commits
    new, finished = await asyncio.gather(
        inbox.accept("slack:event:Ev1", "slack", "event", {}), inbox.finish("slack:command:read")
    )
    assert (new, finished) == (Accepted.NEW, True)
    assert inbox.commits == before + 1
    assert await states(inbox) == {"slack:command:read": "done", "slack:event:Ev1": "pending"}
