"""Reads (`list`, `show` ...) change nothing. With their channel idle they are answered in the
acknowledgement itself: no transaction, no inbox row, no response_url POST (the answer is the
ack, so an acknowledged read cannot lose its answer). Behind queued work of their channel they
are recorded like every command, run after that work, and their inbox row is marked done in
the inbox's group commits; such a read is answered once, also when its row is handed over
again (a replay)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from conftest import GENERAL, SlackBot, acked, start_bot
from slack_peer import SlackPeer
from sqlalchemy import func, select

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


async def commands_recorded(bot: SlackBot) -> int:
    async with bot.app.store.engine.connect() as conn:
        query = select(func.count()).select_from(INBOX).where(INBOX.c.kind == "command")
        return int((await conn.execute(query)).scalar_one())


async def test_a_read_in_an_idle_channel_is_answered_in_its_ack_with_no_commit(
    any_bot: SlackBot,
) -> None:
    bot = any_bot
    await bot.command("declare sev2 Checkout down")
    await bot.settle()
    inbox = bot.app.inbox
    assert inbox is not None
    commits, recorded, answered = (
        inbox.commits,
        await commands_recorded(bot),
        len(bot.peer.responses),
    )
    reply = acked(await bot.command("list"))
    assert "INC-1" in reply["text"] and reply["response_type"] == "ephemeral"
    await bot.settle()
    assert inbox.commits == commits  # not one transaction
    assert await commands_recorded(bot) == recorded
    assert len(bot.peer.responses) == answered


async def test_a_read_behind_work_is_recorded_answered_once_and_done_even_when_replayed(
    any_bot: SlackBot,
) -> None:
    bot, peer = any_bot, any_bot.peer
    await bot.command("declare sev2 Checkout down")
    await bot.settle()
    # Work of the read's channel still running: the read must come after it.
    release = asyncio.Event()
    bot.platform.listeners.worker.submit(f"channel:{GENERAL}", release.wait())
    trigger = "1.2.read"
    response = await bot.command("list", trigger_id=trigger)
    assert response.status_code == 200 and response.text == ""
    release.set()
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
