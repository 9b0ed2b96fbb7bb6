"""Reads (`list`, `show` ...) are recorded like every command, but they write nothing: they
run outside a transaction and their inbox rows are marked done in the inbox's group commits.
A read is answered once, also when its row is handed over again (a replay)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from conftest import SlackBot, start_bot
from slack_peer import SlackPeer
from sqlalchemy import select

from bot.store.inbox import InboxItem
from bot.store.tables import InboxRow

INBOX = InboxRow.__table__


@pytest.fixture(params=["sqlite", "postgres"])
async def any_bot(request: pytest.FixtureRequest, peer: SlackPeer) -> AsyncIterator[SlackBot]:
    bot = await start_bot(request.getfixturevalue(f"{request.param}_url"), peer)
    try:
        yield bot
    finally:
        await bot.close()


async def test_a_read_is_answered_once_and_its_row_done_even_when_replayed(
    any_bot: SlackBot,
) -> None:
    bot, peer = any_bot, any_bot.peer
    await bot.command("declare sev2 Checkout down")
    await bot.settle()
    trigger = "1.2.read"
    assert (await bot.command("list", trigger_id=trigger)).status_code == 200
    await bot.settle()
    key = f"slack:command:{trigger}"
    async with bot.app.store.engine.connect() as conn:
        query = select(INBOX.c.kind, INBOX.c.state, INBOX.c.payload).where(INBOX.c.key == key)
        [(kind, state, payload)] = (await conn.execute(query)).all()
    assert (kind, state) == ("command", "done")
    [answer] = [r for r in peer.responses if r["url"] == "cmd2"]
    assert "INC-1" in answer["text"] and answer["response_type"] == "ephemeral"

    # The same row handed to the handler again (a replica's replay racing this one).
    item = InboxItem(key, "slack", "command", payload, bot.app.clock.now())
    await bot.platform.listeners.replay(item)
    await bot.settle()
    assert len([r for r in peer.responses if r["url"] == "cmd2"]) == 1
