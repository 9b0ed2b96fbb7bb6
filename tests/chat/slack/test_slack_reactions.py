"""A playbook's reaction to a command's change runs after the command committed, as an outbox
row: the channel hears of the change first, the reaction runs once (by whichever replica
holds the row), and a reaction that keeps failing is retried, then shown. On SQLite and
Postgres, with the shipped playbooks (the default one re-arms its status reminder on every
status update)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import SlackBot, acked, start_bot
from slack_peer import SlackPeer
from sqlalchemy import event, select
from test_slack_commands import declare

from bot.core.engine import STATUS
from bot.schedule import outbox as outbox_module
from bot.shipped import playbooks_dir
from bot.store.outbox import DONE, FAILED, REACT, O

PLAYBOOKS = str(playbooks_dir())  # as `warroom run` finds them, from a checkout or a wheel


@pytest.fixture(params=["sqlite", "postgres"])
async def played(request: pytest.FixtureRequest, peer: SlackPeer) -> AsyncIterator[SlackBot]:
    url = request.getfixturevalue(f"{request.param}_url")
    running = await start_bot(url, peer, playbooks=PLAYBOOKS)
    try:
        yield running
    finally:
        await running.close()


def status_posts(bot: SlackBot, channel: str, text: str) -> int:
    return sum(text in t for t in bot.peer.texts(channel))


async def status_reminders(bot: SlackBot) -> list[Any]:
    assert bot.app.service.runner is not None
    pending = await bot.app.service.runner.reminders.pending(1)
    return [r for r in pending if r.kind == STATUS]


async def react_rows(bot: SlackBot) -> list[Any]:
    async with bot.app.store.engine.connect() as conn:
        rows = await conn.execute(
            select(O.c.id, O.c.state, O.c.claimed_by, O.c.attempts).where(O.c.kind == REACT)
        )
        return list(rows)


async def test_the_status_is_posted_before_the_playbook_reacts(played: SlackBot) -> None:
    bot = played
    channel = await declare(bot, "sev3 Search is slow")
    (armed,) = await status_reminders(bot)
    seen: list[int] = []  # status posts Slack had when the reminder was re-armed

    def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE REMINDER", "INSERT INTO REMINDER")):
            seen.append(status_posts(bot, channel, "Rolled back"))

    engine = bot.app.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        bot.app.clock.advance(minutes=10)
        await bot.command("status Rolled back", channel=channel)
        await bot.settle()
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    assert status_posts(bot, channel, "Rolled back") == 1
    assert seen and all(n == 1 for n in seen), seen
    # The reaction ran, once: one status reminder, an hour after the update.
    (again,) = await status_reminders(bot)
    assert again.due_at == armed.due_at + timedelta(minutes=10)
    ((_, state, _, _),) = await react_rows(bot)
    assert state == DONE


async def test_a_reaction_cut_off_by_a_crash_runs_once_on_another_replica(
    played: SlackBot,
) -> None:
    bot = played
    channel = await declare(bot, "sev3 Search is slow")
    (armed,) = await status_reminders(bot)
    worker = bot.app.outbox
    assert worker is not None
    # The process dies the moment the command commits: nothing it wrote is delivered here.
    worker.take = lambda rows, committing=None: None  # type: ignore[method-assign]
    bot.app.clock.advance(minutes=10)
    await bot.command("status Rolled back", channel=channel)
    await bot.settle()
    assert status_posts(bot, channel, "Rolled back") == 0
    assert await status_reminders(bot) == [armed]  # not re-armed yet
    # Another replica finds the rows once their lease has run out, and delivers them all.
    other = outbox_module.OutboxWorker(
        worker.outbox, bot.app.store, worker.chats, bot.app.clock, name="other"
    )
    other.reactor = worker.reactor
    assert await other.deliver_due() == 0  # still under the dead process's lease
    bot.app.clock.advance(seconds=worker.lease_seconds + 1)
    await other.deliver_due()
    assert status_posts(bot, channel, "Rolled back") == 1
    (again,) = await status_reminders(bot)
    assert again.due_at > armed.due_at
    ((_, state, by, attempts),) = await react_rows(bot)
    assert (state, by, attempts) == (DONE, "other", 2)
    assert await other.deliver_due() == 0  # and never again


async def test_a_failing_reaction_is_retried_then_recorded_as_failed_and_shown(
    played: SlackBot,
) -> None:
    bot = played
    channel = await declare(bot, "sev3 Search is slow")
    worker = bot.app.outbox
    assert worker is not None and worker.reactor is not None
    real = worker.reactor
    tries: list[int] = []

    async def broken(number: int, data: dict[str, Any]) -> None:
        tries.append(number)
        await real(number, data)  # its writes are rolled back with the error below
        raise RuntimeError("playbook store went away")

    worker.reactor = broken
    worker.max_attempts = 3
    await bot.command("status Rolled back", channel=channel)
    await bot.settle()
    # The status itself is recorded and posted whatever the reaction does.
    assert status_posts(bot, channel, "Rolled back") == 1
    assert [u.text for u in await bot.app.store.status_updates(1)] == ["Rolled back"]
    for attempt in range(1, 3):
        bot.app.clock.advance(seconds=outbox_module.backoff(attempt))
        await worker.deliver_due()
    assert tries == [1, 1, 1]
    ((_, state, _, _),) = await react_rows(bot)
    assert state == FAILED
    shown = acked(await bot.command("show INC-1", channel=channel))["text"]
    assert (
        "the playbook's reaction failed after 3 attempts: RuntimeError: playbook store went away"
        in shown
    )
    # Nothing it wrote stayed: the status reminder is the declaration's still.
    (armed,) = await status_reminders(bot)
    assert armed.due_at == (await bot.app.store.get_incident(1)).declared_at + timedelta(hours=1)
