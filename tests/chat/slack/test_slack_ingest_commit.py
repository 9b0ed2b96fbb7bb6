"""A posted message's event and its timeline row commit together: the inbox's group commit
that records the event appends the message and records the row done (one transaction per
burst, not the inbox's and then the ingest's). Acknowledged means on the timeline; a retry of
an acknowledged event is recorded once; messages that fail to go in cost no event."""

from __future__ import annotations

import asyncio

import pytest
from conftest import SlackBot
from sqlalchemy import select
from test_slack_events import incident_channel, message

from bot.core.model import EventKind
from bot.store.tables import InboxRow

INBOX = InboxRow.__table__


async def messages_of(bot: SlackBot) -> list[str]:
    return [
        e.text for e in await bot.app.store.timeline(1, last=1000) if e.kind is EventKind.MESSAGE
    ]


async def event_states(bot: SlackBot) -> dict[str, str]:
    async with bot.app.store.engine.connect() as conn:
        query = select(INBOX.c.key, INBOX.c.state).where(INBOX.c.kind == "event")
        return dict((await conn.execute(query)).all())


async def test_a_burst_is_on_the_timeline_when_acknowledged_in_one_commit_each_batch(
    any_db_bot: SlackBot,
) -> None:
    bot = any_db_bot
    channel = await incident_channel(bot)
    inbox, ingest = bot.app.inbox, bot.app.service.ingest
    assert inbox is not None
    commits, batches = inbox.commits, ingest.batches
    posts = [message(channel, f"1700000300.{i:06d}", f"line {i}") for i in range(30)]
    responses = await asyncio.gather(
        *(bot.event(post, event_id=f"EvB{i:03d}") for i, post in enumerate(posts))
    )
    assert {r.status_code for r in responses} == {200}
    # Before any work after the acks: acknowledged means recorded.
    assert sorted(await messages_of(bot)) == sorted(f"line {i}" for i in range(30))
    assert set((await event_states(bot)).values()) == {"done"}
    # Slack's retries of acknowledged events: acknowledged, recorded once.
    retries = await asyncio.gather(
        *(bot.event(posts[i], event_id=f"EvB{i:03d}", retry_num=1) for i in range(0, 30, 3))
    )
    assert {r.status_code for r in retries} == {200}
    await bot.settle()
    assert len(await messages_of(bot)) == 30
    # The inbox's commits did it all; the ingest made no transaction of its own.
    assert ingest.batches == batches
    assert inbox.commits - commits <= 40


async def test_messages_elsewhere_are_done_and_not_recorded(bot: SlackBot) -> None:
    await incident_channel(bot)
    response = await bot.event(message("C0ELSEWHERE", "1700000400.1", "lunch?"), event_id="EvE1")
    assert response.status_code == 200
    await bot.settle()
    assert await messages_of(bot) == []
    assert (await event_states(bot))["slack:event:EvE1"] == "done"


async def test_messages_that_fail_to_go_in_cost_no_event(
    bot: SlackBot, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await incident_channel(bot)
    inbox = bot.app.inbox
    assert inbox is not None

    async def broken(_messages: list) -> None:
        raise RuntimeError("a bug in the timeline")

    inbox.recorder = broken  # type: ignore[assignment]
    response = await bot.event(message(channel, "1700000500.1", "still here"), event_id="EvF1")
    assert response.status_code == 200
    await bot.settle()
    # Recorded without its message, then handled the usual way (the ingest's batch).
    assert await messages_of(bot) == ["still here"]
    assert (await event_states(bot))["slack:event:EvF1"] == "done"
    assert "recording messages with their events failed" in caplog.text


async def test_what_a_rolled_back_batch_wrote_is_not_taken_as_known(bot: SlackBot) -> None:
    """The ingest learns of new participants only once the inbox's transaction committed: a
    batch rolled back after its messages went in must not leave them 'known' (and never
    written) when the messages are handled apart."""
    channel = await incident_channel(bot)
    inbox = bot.app.inbox
    assert inbox is not None
    real = inbox.recorder
    assert real is not None

    async def wrote_then_failed(messages: list):  # type: ignore[no-untyped-def]
        await real(messages)
        raise RuntimeError("a failure after the messages were written")

    inbox.recorder = wrote_then_failed
    await bot.event(message(channel, "1700000600.1", "hello", user="U0NEWCOMER"), event_id="EvR1")
    await bot.settle()
    assert await messages_of(bot) == ["hello"]
    assert "U0NEWCOMER" in [p.user for p in await bot.app.store.participants(1)]
