"""Two replicas of the bot on one database (Postgres, and SQLite for reminders), talking to one
(slow) Slack: reminders are posted once each, and a replica (re)starting while the other is
setting up a declaration neither finishes it a second time nor posts a second summary or
announcement."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from conftest import ANNOUNCE, SlackBot, start_bot
from slack_peer import RecordingSleep, SlackPeer
from sqlalchemy import select

from bot.core.clock import ManualClock
from bot.core.model import EventKind, Reminder
from bot.store.outbox import PENDING, O
from bot.store.reminders import R, SqlReminders


class PassingTime(RecordingSleep):
    """The retry policy's sleep: no real waiting, but the shared clock moves on by as much."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds=seconds)
        await asyncio.sleep(0)


async def two_replicas(url: str, peer: SlackPeer):
    clock = ManualClock()
    sleep = PassingTime(clock)
    bots = [await start_bot(url, peer, clock=clock, sleep=sleep) for _ in range(2)]
    try:
        yield bots
    finally:
        for bot in bots:
            await bot.close()


@pytest.fixture
async def replicas(postgres_url: str, peer: SlackPeer):
    async for bots in two_replicas(postgres_url, peer):
        yield bots


@pytest.fixture(params=["sqlite", "postgres"])
async def replicas_any_db(request: pytest.FixtureRequest, peer: SlackPeer):
    async for bots in two_replicas(request.getfixturevalue(f"{request.param}_url"), peer):
        yield bots


async def test_a_thousand_reminders_with_a_slow_slack_are_posted_once(
    replicas_any_db: list[SlackBot], peer: SlackPeer
) -> None:
    a, b = replicas_any_db
    await a.command("declare sev3 Reminder storm")
    await a.settle()
    incident = await a.app.store.get_incident(1)
    assert incident is not None and incident.channel_id
    reminders = SqlReminders(a.app.store.engine)
    now = a.app.clock.now()
    for i in range(1000):
        await reminders.schedule(Reminder(1, "remind", now, f"reminder {i:04d}"))
    # Slack rate-limits with a Retry-After longer than the outbox lease (60 s), repeatedly.
    peer.fail("chat.postMessage", status=429, retry_after=90, times=4)
    started = a.app.clock.now()
    # Both tick at once; each delivers what its batches wrote as they commit (the workers
    # are not started, so kick() delivers inline), waiting out the 429s on the shared
    # clock: the ticks outlast the reminder lease and the outbox lease alike.
    fired = await asyncio.gather(a.app.ticker.tick(), b.app.ticker.tick())
    assert sum(fired) == 1000
    assert a.app.clock.now() - started > timedelta(seconds=a.app.ticker.lease_seconds)
    while await a.app.outbox.outbox.count(PENDING):
        await asyncio.gather(a.app.outbox.deliver_due(), b.app.outbox.deliver_due())
    posted = Counter(t for t in peer.texts(incident.channel_id) if t.startswith("reminder "))
    assert len(posted) == 1000 and set(posted.values()) == {1}
    events = await a.app.store.timeline(1)
    assert sum(e.kind is EventKind.REMINDER for e in events) == 1000
    # One effect per reminder, under the reminder's own key, which each post carries.
    async with a.app.store.engine.connect() as conn:
        ids = set((await conn.execute(select(R.c.id))).scalars())
        keys = (await conn.execute(select(O.c.key).where(O.c.kind == "post"))).scalars().all()
    expected = {f"warroom:reminder:{i}" for i in ids}
    assert expected <= set(keys) and len([k for k in keys if k in expected]) == 1000
    carried = {
        (m.metadata or {}).get("event_payload", {}).get("key")
        for m in peer.messages.values()
        if m.text.startswith("reminder ")
    }
    assert carried == expected
    # The waits really happened (Retry-After is capped at 30 s a time), and together
    # outlived the lease.
    assert len(a.sleep.delays) == 4 and sum(a.sleep.delays) > a.app.outbox.lease_seconds


async def test_a_replica_starting_mid_declaration_posts_no_second_summary(
    replicas: list[SlackBot], peer: SlackPeer, postgres_url: str
) -> None:
    a, _ = replicas
    a.app.router.settle_seconds = 0.05
    gate = peer.hold("conversations.create")  # Slack is slow to create the channel
    await a.command("declare sev2 Payments down")
    await a.platform.listeners.worker.drain()
    for _ in range(500):  # until a's delivery is inside the create call
        if peer.calls_to("conversations.create", ok_only=False):
            break
        await asyncio.sleep(0.01)
    # Another replica starts now (a deploy): it handles what the inbox holds and delivers
    # what is due, and finds nothing to do, since a holds the set-up's lease.
    c = await start_bot(postgres_url, peer, clock=a.app.clock, sleep=a.sleep)
    try:
        await c.app.replay()
        assert await c.app.outbox.deliver_due() == 0
        gate.set()
        await a.settle()
        assert await c.app.outbox.deliver_due() == 0
    finally:
        await c.close()
    incident = await a.app.store.get_incident(1)
    assert incident is not None and incident.channel_id
    summaries = [t for t in peer.texts(incident.channel_id) if t.startswith("INC-1: Payments")]
    announcements = [t for t in peer.texts(ANNOUNCE) if "INC-1" in t]
    assert len(summaries) == 1 and len(announcements) == 1
    assert len(peer.calls_to("conversations.create")) == 1
