"""Chat side effects through the outbox, end to end against the Slack peer, on SQLite and
Postgres: a post Slack did but answered too late appears once; an undeliverable effect is
retried with backoff up to a limit, then recorded as failed, shown, logged once, and blocks
neither start-up nor other incidents; the user is told the truth meanwhile."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from conftest import ANNOUNCE, SlackBot, acked, start_bot
from slack_peer import slack_escape
from sqlalchemy import event, select
from test_slack_commands import declare, reply_to

from bot.chat.slack import translate
from bot.core import messages
from bot.core.postmortem.split import split_message
from bot.schedule import outbox as outbox_module
from bot.store.outbox import FAILED, O


async def test_a_post_slack_did_but_answered_too_late_appears_once(any_db_bot: SlackBot) -> None:
    bot = any_db_bot
    channel = await declare(bot)
    bot.platform.chat.client.timeout = 0.3  # seconds; the peer answers after 1
    bot.peer.fail("chat.postMessage", delay=1.0)
    await bot.command("status Rolling back the deploy", channel=channel)
    await bot.settle()
    posts = [t for t in bot.peer.texts(channel) if "Rolling back the deploy" in t]
    assert len(posts) == 1
    # The retry looked in the channel's history (by the post's metadata key) instead.
    assert bot.peer.calls_to("conversations.history")
    (late,) = [c for c in bot.peer.calls if c.outcome == "late"]
    assert late.params["metadata"]["event_type"] == "warroom_post"


async def test_an_undeliverable_post_fails_after_bounded_retries_and_is_shown(
    any_db_bot: SlackBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = any_db_bot
    clock = bot.app.clock
    channel = await declare(bot)
    # The channel was archived by someone: every post into it is refused, for good.
    bot.peer.archive(channel)
    caplog.set_level(logging.WARNING)
    await bot.command("status Still investigating", channel=channel)
    await bot.settle()
    # (d) The status update is recorded; the user is told so, and that posting is retried.
    assert reply_to(bot, 2)["text"] == messages.RECORDED_CHAT_RETRYING
    assert reply_to(bot, 2)["response_type"] == "ephemeral"
    updates = await bot.app.store.status_updates(1)
    assert [u.text for u in updates] == ["Still investigating"]

    def tries() -> int:
        return sum(
            c.method == "chat.postMessage" and c.outcome == "is_archived" for c in bot.peer.calls
        )

    attempts = tries()
    assert attempts == 1
    # Backoff: nothing is tried again before the delay has passed...
    await bot.settle()
    assert tries() == attempts
    delays = []
    for attempt in range(1, outbox_module.MAX_ATTEMPTS):
        delay = outbox_module.backoff(attempt)
        delays.append(delay)
        clock.advance(seconds=delay - 1)
        await bot.settle()
        tried = tries()
        assert tried == attempts, f"retried before its backoff ({attempt})"
        clock.advance(seconds=1)
        await bot.settle()
        assert tries() == attempts + 1
        attempts += 1
    assert delays == sorted(delays) and delays[0] < delays[-1]
    # ...and after the last attempt, never again.
    clock.advance(hours=1)
    await bot.settle()
    assert tries() == attempts
    assert await bot.app.outbox.outbox.count(FAILED) >= 1
    gave_up = [r for r in caplog.records if "failed for good" in r.getMessage()]
    assert len(gave_up) == 1 and gave_up[0].levelno == logging.ERROR
    # Shown where people look.
    shown = acked(await bot.command("show INC-1", channel=channel))["text"]
    assert "Not delivered to the chat" in shown
    assert "posting a message failed after 6 attempts: is_archived" in shown
    # Another incident is not held up by it: declared, set up and announced in full.
    other = await declare(bot, "sev3 Search is slow")
    assert bot.peer.texts(other) and any("INC-2" in t for t in bot.peer.texts(ANNOUNCE))
    # Nor is start-up: a new process on the same database starts and serves.
    url = bot.app.settings.database_url
    again = await start_bot(url, bot.peer)
    try:
        response = await again.command("list")
        assert response.status_code == 200
        await again.settle()
    finally:
        await again.close()


async def test_retry_after_longer_than_the_lease_keeps_the_row(any_db_bot: SlackBot) -> None:
    """A 429 whose Retry-After outlives the lease: the worker holds the lease over the wait."""
    bot = any_db_bot
    channel = await declare(bot)
    lease = bot.app.outbox.lease_seconds
    clock = bot.app.clock

    async def slow_sleep(seconds: float) -> None:  # time passes, as it would
        clock.advance(seconds=seconds)

    bot.platform.chat.sleep = slow_sleep
    bot.peer.fail("chat.postMessage", status=429, retry_after=int(lease * 1.5), times=3)
    other = bot.app.outbox.__class__(
        bot.app.outbox.outbox, bot.app.store, bot.app.outbox.chats, clock, name="other"
    )
    claimed_by_other: list[int] = []
    real_sleep = slow_sleep

    async def sleep_and_look(seconds: float) -> None:
        await real_sleep(seconds)
        # Mid-wait, past the original lease: the other replica finds nothing to take.
        claimed_by_other.extend(
            c.id for c in await other.outbox.claim("other", clock.now(), limit=10, lease_seconds=60)
        )

    bot.platform.chat.sleep = sleep_and_look
    started = clock.now()
    await bot.command("status Waiting on the rate limit", channel=channel)
    await bot.settle()
    assert claimed_by_other == []
    assert len([t for t in bot.peer.texts(channel) if "Waiting on the rate limit" in t]) == 1
    # The wait really outlived the original lease.
    assert clock.now() - started > timedelta(seconds=lease)


async def declare_until_pinned(bot: SlackBot) -> dict[str, Any]:
    """Declare (the reply waits briefly) and wait until the summary is pinned, with some
    calls held by the test; the new channel at the peer."""
    bot.app.router.settle_seconds = 0.05
    await bot.command("declare sev2 Checkout errors")
    await bot.platform.listeners.worker.drain()
    # Bounded, so that a set-up that waits for a held call fails here rather than hangs.
    await asyncio.wait_for(bot.peer.wait_for(lambda: bool(bot.peer.calls_to("pins.add"))), 10)
    (created,) = bot.peer.calls_to("conversations.create")
    channel = bot.peer.channel_named(created["name"])
    assert channel is not None
    return channel


async def test_a_declarations_set_up_goes_in_a_chain_of_three(any_db_bot: SlackBot) -> None:
    """After the channel exists, the invite, the topic, the summary and the announcement do
    not wait for each other, and the pin waits only for the summary: while the invite and the
    topic are held, everything else is done."""
    bot = any_db_bot
    invite, topic = bot.peer.hold("conversations.invite"), bot.peer.hold("conversations.setTopic")
    channel = await declare_until_pinned(bot)
    assert [t for t in bot.peer.texts(channel["id"]) if t.startswith("INC-1: Checkout errors")]
    assert any("INC-1" in t for t in bot.peer.texts(ANNOUNCE))
    # Asked for, not yet answered.
    held = [
        c for c in bot.peer.calls if c.method in ("conversations.invite", "conversations.setTopic")
    ]
    assert len(held) == 2 and all(c.answered is None for c in held)
    invite.set()
    topic.set()
    await bot.settle()
    assert await bot.app.outbox.outbox.count() == 0
    assert channel["topic"] and channel["members"]


async def test_rows_a_command_writes_are_claimed_as_written(any_db_bot: SlackBot) -> None:
    """The worker of the process that wrote the rows delivers them with no claim of its own
    and no other replica can take them meanwhile; once done, each was attempted once."""
    bot = any_db_bot
    channel = await declare(bot)
    bot.app.router.settle_seconds = 0.05
    gate = bot.peer.hold("chat.postMessage")
    await bot.command("status Rolling back", channel=channel)
    await bot.platform.listeners.worker.drain()
    await bot.peer.wait_for(lambda: bool(bot.peer.calls_to("chat.postMessage", ok_only=False)))
    other = bot.app.outbox.__class__(
        bot.app.outbox.outbox, bot.app.store, bot.app.outbox.chats, bot.app.clock, name="other"
    )
    assert await other.deliver_due() == 0
    gate.set()
    await bot.settle()
    async with bot.app.store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(O.c.claimed_by, O.c.attempts, O.c.state).where(O.c.kind == "post")
            )
        ).all()
    assert {(r.claimed_by, r.attempts, r.state) for r in rows} == {(bot.app.outbox.name, 1, "done")}
    assert len([t for t in bot.peer.texts(channel) if t.endswith("Rolling back")]) == 1


async def test_a_post_waits_for_an_earlier_post_of_its_channel_being_retried(
    any_db_bot: SlackBot,
) -> None:
    """Order per channel: a status update written while the one before it waits for its
    retry goes after it, not at once."""
    bot = any_db_bot
    clock = bot.app.clock
    channel = await declare(bot)
    bot.peer.fail("chat.postMessage", error="internal_error")
    await bot.command("status First", channel=channel)
    await bot.settle()
    await bot.command("status Second", channel=channel)
    await bot.settle()
    assert not [t for t in bot.peer.texts(channel) if "First" in t or "Second" in t]
    clock.advance(seconds=outbox_module.backoff(1))
    await bot.settle()
    posted = [t for t in bot.peer.texts(channel) if t.endswith(("First", "Second"))]
    assert len(posted) == 2 and posted[0].endswith("First") and posted[1].endswith("Second")


async def test_a_new_channel_is_recorded_with_the_rest_of_its_set_up(
    any_db_bot: SlackBot,
) -> None:
    """One transaction records the channel and the summary posted in it: recording the
    channel on its own would put a second transaction on the declaration's critical path."""
    bot = any_db_bot
    groups: list[list[str]] = [[]]
    engine = bot.app.store.engine.sync_engine

    def statement(conn, cursor, text, params, context, many):  # type: ignore[no-untyped-def]
        groups[-1].append(" ".join(text.split()))

    def commit(conn):  # type: ignore[no-untyped-def]
        groups.append([])

    event.listen(engine, "after_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        channel = await declare(bot)
    finally:
        event.remove(engine, "after_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    (incident,) = await bot.app.store.list_incidents(limit=1)
    assert incident.channel_id == channel and incident.summary_message_id
    recorded = [g for g in groups if any(s.startswith("UPDATE incident SET channel_id") for s in g)]
    assert len(recorded) == 1
    assert any("summary_message_id" in s for s in recorded[0])


async def test_a_channel_is_recorded_on_its_own_when_the_rest_takes_long(
    any_db_bot: SlackBot,
) -> None:
    """While the invite is held (a platform asking us to wait), the channel is recorded
    anyway, so that a command typed in the new channel finds its incident."""
    bot = any_db_bot
    bot.app.outbox.record_channel_after = 0  # "long" is the next turn of the loop here
    invite = bot.peer.hold("conversations.invite")
    channel = await declare_until_pinned(bot)

    async def recorded() -> bool:
        incident = await bot.app.store.get_incident(1)
        return incident is not None and incident.channel_id == channel["id"]

    for _ in range(100):  # turns of the loop, not time: the record is a task of its own
        if await recorded():
            break
        await asyncio.sleep(0)
    assert await recorded()
    assert not [c for c in bot.peer.calls if c.method == "conversations.invite" and c.answered]
    invite.set()
    await bot.settle()
    assert await bot.app.outbox.outbox.count() == 0


def postmortem_text() -> str:
    """A postmortem long enough for two messages of the text fallback (split_message)."""
    return "\n".join(f"| 10:{n % 60:02d} | event {n} & more |" for n in range(700))


async def test_a_refused_uploads_text_answered_late_appears_once(any_db_bot: SlackBot) -> None:
    """Uploads refused (no files:write): the postmortem goes out as text, in two messages.
    Slack does the first but answers after the client's timeout; the retry finds it by its
    metadata key instead of posting it again, and each piece appears once, escaped as any
    text the bot posts."""
    bot = any_db_bot
    channel = await declare(bot)
    markdown = postmortem_text()
    pieces = split_message(markdown)
    assert len(pieces) == 2
    bot.peer.fail("files.getUploadURLExternal", error="missing_scope")
    bot.platform.chat.client.timeout = 0.3  # seconds; the peer answers after 1
    bot.peer.fail("chat.postMessage", delay=1.0)
    await bot.app.service.chats["slack"].upload(
        channel, "inc-1-postmortem.md", markdown.encode(), "INC-1 postmortem"
    )
    assert bot.app.outbox is not None
    await bot.app.outbox.deliver_due()
    posted = [t for t in bot.peer.texts(channel) if "| 10:" in t]
    assert posted == [translate.outgoing(piece) for piece in pieces]
    (late,) = [c for c in bot.peer.calls if c.outcome == "late"]
    keys = [m.metadata["event_payload"]["key"] for m in bot.peer.messages.values() if m.metadata]
    assert late.params["metadata"]["event_payload"]["key"] in keys
    assert bot.peer.calls_to("conversations.history")
    assert await bot.app.outbox.outbox.count() == 0


async def test_a_refused_uploads_text_retried_keeps_the_pieces_posted(
    any_db_bot: SlackBot,
) -> None:
    """Slack posts the first piece but the answer is an error, so the attempt fails; the
    next attempt of the row finds that piece by its key and posts only the second."""
    bot = any_db_bot
    channel = await declare(bot)
    markdown = postmortem_text()
    pieces = split_message(markdown)
    bot.peer.fail("files.getUploadURLExternal", error="missing_scope", times=2)
    bot.peer.fail("chat.postMessage", error="internal_error", after=True)  # done, yet refused
    await bot.app.service.chats["slack"].upload(
        channel, "inc-1-postmortem.md", markdown.encode(), "INC-1 postmortem"
    )
    assert bot.app.outbox is not None
    await bot.app.outbox.deliver_due()
    assert [t for t in bot.peer.texts(channel) if "| 10:" in t] == [translate.outgoing(pieces[0])]
    bot.app.clock.advance(seconds=outbox_module.backoff(1))  # type: ignore[attr-defined]
    await bot.app.outbox.deliver_due()
    posted = [t for t in bot.peer.texts(channel) if "| 10:" in t]
    assert posted == [translate.outgoing(piece) for piece in pieces]
    assert await bot.app.outbox.outbox.count() == 0


async def test_a_post_through_the_outbox_is_escaped_as_any_post(any_db_bot: SlackBot) -> None:
    """A status update whose text has Slack markup typed literally (Slack sends it escaped,
    the bot decodes it) goes out escaped again: it shows as typed and pings nobody."""
    bot = any_db_bot
    channel = await declare(bot)
    await bot.command(slack_escape("status Rolling back <!channel> & co"), channel=channel)
    await bot.settle()
    (posted,) = [t for t in bot.peer.texts(channel) if "Rolling back" in t]
    assert "<!channel>" not in posted and "&lt;!channel&gt; &amp; co" in posted


async def test_a_batch_cut_off_by_shutdown_still_records_the_channel_it_made(
    any_db_bot: SlackBot,
) -> None:
    """A shutdown past its grace cancels a batch whose channel exists but waits for the rest:
    the channel is recorded still, so the replica taking the rows over makes no second one."""
    bot = any_db_bot
    bot.app.outbox.record_channel_after = 3600  # only the batch's end would record it
    invite = bot.peer.hold("conversations.invite")
    channel = await declare_until_pinned(bot)
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.channel_id != channel["id"]  # not yet recorded
    await bot.app.outbox.stop()  # no grace: the batch is cancelled mid-way
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.channel_id == channel["id"]
    invite.set()


# A commit the database itself refuses, after the commit was sent (and the loop went on):
# a deferred constraint, checked at COMMIT, broken by the status update's row.
_DOOM = {
    "sqlite": [
        "CREATE TABLE doom_parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE doom (ref INTEGER REFERENCES doom_parent (id) DEFERRABLE INITIALLY DEFERRED)",
        "CREATE TRIGGER doom_status AFTER INSERT ON status_update"
        " WHEN NEW.text LIKE 'Rolling back%' BEGIN INSERT INTO doom (ref) VALUES (42); END",
    ],
    "postgresql": [
        "CREATE FUNCTION doom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.text LIKE 'Rolling back%' THEN RAISE EXCEPTION 'the disk is full'; END IF;"
        " RETURN NEW; END $$",
        "CREATE CONSTRAINT TRIGGER doom_status AFTER INSERT ON status_update"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION doom()",
    ],
}


async def test_a_post_built_while_its_command_commits_never_goes_if_the_commit_fails(
    any_db_bot: SlackBot, caplog: pytest.LogCaptureFixture
) -> None:
    # The first call of a command is built while its transaction commits, and held until the
    # commit returns (bot/core/wire.py). A commit that fails must leave Slack untouched.
    bot = any_db_bot
    channel = await declare(bot)
    engine = bot.app.store.engine
    async with engine.begin() as conn:
        for statement in _DOOM[engine.dialect.name]:
            await conn.exec_driver_sql(statement)
    caplog.set_level(logging.WARNING)
    before = len(bot.peer.calls)
    await bot.command("status Rolling back the deploy", channel=channel)
    await bot.settle()
    assert not [c for c in bot.peer.calls[before:] if c.method == "chat.postMessage"]
    assert reply_to(bot, 2)["text"] == messages.INTERNAL_ERROR
    assert await bot.app.store.status_updates(1) == []
    async with engine.connect() as conn:
        texts = [r.args.get("text", "") for r in await conn.execute(select(O.c.args))]
    assert not [t for t in texts if "Rolling back" in t]
    assert not [r for r in caplog.records if r.name.startswith("bot.schedule.outbox")]
    worker = bot.app.outbox
    assert worker is not None and not worker._inflight and not worker._tails
    # Nothing is left waiting either: the next status goes out at once.
    await bot.command("status Rolled back", channel=channel)
    await bot.settle()
    assert [t for t in bot.peer.texts(channel) if "Rolled back" in t]
