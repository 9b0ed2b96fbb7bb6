"""Due reminders end to end, against the Slack peer, on SQLite and Postgres: a batch costs the
same few statements however many reminders it holds; each reminder's post is an outbox row
with the reminder's own key, so firing it again posts and records nothing new; and a reminder
into an archived channel fails visibly after the outbox's retry bound instead of forever."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta

import pytest
from conftest import ALICE, SlackBot, acked
from sqlalchemy import event, select, update
from test_slack_commands import declare

from bot.core.model import EventKind, Reminder
from bot.schedule import outbox as outbox_module
from bot.schedule import ticker as ticker_module
from bot.store.outbox import FAILED, O
from bot.store.reminders import R, SqlReminders


async def schedule(bot: SlackBot, incidents: list[int], count: int, tag: str) -> None:
    """`count` reminders due now, spread over the incidents; every other one for the
    commander (a role, resolved when it fires)."""
    reminders = SqlReminders(bot.app.store.engine)
    now = bot.app.clock.now()
    for i in range(count):
        target = "role:commander" if i % 2 else None
        number = incidents[i % len(incidents)]
        await reminders.schedule(Reminder(number, "remind", now, f"{tag} {i:03d}", target))


async def statements_of_a_tick(bot: SlackBot) -> int:
    """How many SQL statements one tick runs (delivery left to the outbox worker)."""
    ticker = bot.app.ticker
    assert ticker is not None
    counted: list[str] = []
    tick: asyncio.Task[int] | None = None

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if asyncio.current_task() is tick:
            counted.append(statement)

    engine = bot.app.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    ticker.woke = None  # delivery is not the tick's, here
    try:
        tick = asyncio.create_task(ticker.tick())
        await tick
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(counted)


async def test_a_batch_costs_the_same_few_statements_however_large(any_db_bot: SlackBot) -> None:
    bot = any_db_bot
    channels = [await declare(bot, f"sev3 Incident {n}") for n in range(3)]
    await schedule(bot, [1, 2, 3], 12, "small")
    small = await statements_of_a_tick(bot)
    await schedule(bot, [1, 2, 3], 150, "large")
    large = await statements_of_a_tick(bot)
    # Claim, mark, one read per kind of fact, one insert of posts, one of events.
    assert small == large <= 8
    await bot.settle()
    for number, channel in enumerate(channels, start=1):
        texts = [t for t in bot.peer.texts(channel) if t.startswith(("small", "large", "<@"))]
        expected = {f"large {i:03d}" for i in range(150) if i % 3 == number - 1}
        assert {t.rsplit(": ", 1)[-1] for t in texts} >= expected
    posted = Counter(
        t.rsplit(": ", 1)[-1] for c in channels for t in bot.peer.texts(c) if "large" in t
    )
    assert len(posted) == 150 and set(posted.values()) == {1}
    mentions = [t for c in channels for t in bot.peer.texts(c) if "large" in t and ALICE in t]
    assert len(mentions) == 75  # the commander (the declarer), mentioned by role
    events = [e for n in (1, 2, 3) for e in await bot.app.store.timeline(n)]
    assert sum(e.kind is EventKind.REMINDER for e in events) == 162


async def test_a_reminder_fired_again_posts_and_records_nothing_new(any_db_bot: SlackBot) -> None:
    bot = any_db_bot
    channel = await declare(bot)
    await schedule(bot, [1], 1, "check the dashboards")
    ticker = bot.app.ticker
    assert ticker is not None and await ticker.tick() == 1
    await bot.settle()
    engine = bot.app.store.engine
    async with engine.begin() as conn:
        (reminder_id,) = (await conn.execute(select(R.c.id))).scalars()
        # As if it had never been marked (a replica that lost track): it is due again.
        await conn.execute(
            update(R).values(state="pending", claimed_by=None, lease_until=None, fired_at=None)
        )
    assert await ticker.tick() == 1
    await bot.settle()
    key = f"warroom:reminder:{reminder_id}"
    posts = [m for m in bot.peer.messages.values() if "check the dashboards" in m.text]
    assert len(posts) == 1 and posts[0].channel == channel
    # The post carries the reminder's key to Slack (a retry after a timeout looks for it).
    assert (posts[0].metadata or {}).get("event_payload") == {"key": key}
    async with engine.connect() as conn:
        keys = (await conn.execute(select(O.c.key).where(O.c.kind == "post"))).scalars().all()
    assert keys.count(key) == 1
    events = [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.REMINDER]
    assert [e.source_key for e in events] == [key]


async def test_a_reminder_into_an_archived_channel_fails_after_the_bound_and_is_shown(
    any_db_bot: SlackBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = any_db_bot
    clock = bot.app.clock
    channel = await declare(bot)
    bot.peer.archive(channel)
    caplog.set_level(logging.WARNING)
    await schedule(bot, [1], 1, "post the customer update")
    ticker = bot.app.ticker
    assert ticker is not None

    def tries() -> int:
        return sum(
            c.method == "chat.postMessage"
            and c.outcome == "is_archived"
            and "customer update" in c.params.get("text", "")
            for c in bot.peer.calls
        )

    assert await ticker.tick() == 1
    await bot.settle()
    assert tries() == 1
    # The outbox retries it with backoff (the reminder itself fired once, and is done)...
    for attempt in range(1, outbox_module.MAX_ATTEMPTS):
        clock.advance(seconds=outbox_module.backoff(attempt))
        assert await ticker.tick() == 0
        await bot.settle()
        assert tries() == attempt + 1
    # ...up to its bound, then never again: not every 60 s forever.
    for _ in range(3):
        clock.advance(minutes=10)
        assert await ticker.tick() == 0
        await bot.settle()
    assert tries() == outbox_module.MAX_ATTEMPTS
    assert await SqlReminders(bot.app.store.engine).pending(1) == []
    assert await bot.app.outbox.outbox.count(FAILED) == 1  # type: ignore[union-attr]
    gave_up = [r for r in caplog.records if "failed for good" in r.getMessage()]
    assert len(gave_up) == 1 and gave_up[0].levelno == logging.ERROR
    # The timeline has it (it did fire); `/incident show` says its post never arrived.
    events = [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.REMINDER]
    assert [e.text for e in events] == ["post the customer update 000"]
    shown = acked(await bot.command("show INC-1"))["text"]
    assert "Not delivered to the chat" in shown
    assert "posting a message failed after 6 attempts: is_archived" in shown
    assert clock.now() - events[0].occurred_at > timedelta(minutes=30)


async def refuse_outbox_rows_containing(bot: SlackBot, marker: str) -> None:
    """The database refuses to write an outbox row whose args contain `marker` (a trigger:
    a real write failure, as a full disk or a broken constraint gives)."""
    async with bot.app.store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql(
                "CREATE FUNCTION refuse_marked() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.args::text LIKE '%{marker}%' THEN "
                "RAISE EXCEPTION 'could not extend file: No space left on device'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse_marked BEFORE INSERT ON outbox "
                "FOR EACH ROW EXECUTE FUNCTION refuse_marked()"
            )
        else:
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse_marked BEFORE INSERT ON outbox "
                f"WHEN NEW.args LIKE '%{marker}%' "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )


async def test_a_reminder_whose_firing_fails_backs_off_then_fails_visibly(
    any_db_bot: SlackBot, caplog: pytest.LogCaptureFixture
) -> None:
    """Firing one reminder fails every time (writing its post's outbox row is refused): it
    is retried with backoff, not every lease forever, then marked failed, logged once and
    shown by `/incident show`; the reminders beside it fire, and post, once."""
    bot = any_db_bot
    clock = bot.app.clock
    channel = await declare(bot)
    await refuse_outbox_rows_containing(bot, "poison")
    reminders = SqlReminders(bot.app.store.engine)
    now = clock.now()
    for text in ("check the dashboards", "poison pill", "call the vendor"):
        await reminders.schedule(Reminder(1, "remind", now, text))
    ticker = bot.app.ticker
    assert ticker is not None
    caplog.set_level(logging.WARNING)

    async def attempts() -> list[int]:
        return [r.attempts for r in await reminders.pending(1) if r.text == "poison pill"]

    assert await ticker.tick() == 2
    await bot.settle()
    assert await attempts() == [1]
    for attempt in range(1, ticker_module.MAX_ATTEMPTS):
        clock.advance(seconds=ticker_module.retry_delay(attempt) - 1)
        await ticker.tick()
        assert await attempts() == [attempt], "retried before its backoff"
        clock.advance(seconds=2)
        await ticker.tick()
        assert await attempts() == (
            [attempt + 1] if attempt + 1 < ticker_module.MAX_ATTEMPTS else []
        )
    # Failed for good: never tried again.
    clock.advance(hours=6)
    assert await ticker.tick() == 0
    await bot.settle()
    for text in ("check the dashboards", "call the vendor"):
        assert len([t for t in bot.peer.texts(channel) if text in t]) == 1
    assert not [t for t in bot.peer.texts(channel) if "poison" in t]
    gave_up = [r for r in caplog.records if "failed for good" in r.getMessage()]
    assert len(gave_up) == 1 and gave_up[0].levelno == logging.ERROR
    assert "remind of INC-1" in gave_up[0].getMessage()
    async with bot.app.store.engine.connect() as conn:
        (row,) = (await conn.execute(select(R).where(R.c.text == "poison pill"))).all()
    assert row.state == "failed" and row.attempts == ticker_module.MAX_ATTEMPTS
    shown = acked(await bot.command("show INC-1"))["text"]
    assert "Not delivered to the chat" in shown
    assert f"a reminder due {now:%Y-%m-%d %H:%M} UTC failed after 6 attempts" in shown
    (line,) = [t for t in shown.splitlines() if "a reminder due" in t]
    assert line.endswith(("database or disk is full", "No space left on device"))
