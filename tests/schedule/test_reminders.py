"""The Reminders contract against every store, and the ticker's exactly-once promises."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from bot.core.clock import ManualClock
from bot.core.model import Incident, Reminder, Severity, State
from bot.schedule.ticker import Ticker
from bot.store import migrate
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders, SqlReminders
from bot.store.sql import SqlStore


def reminders_for(store: object) -> MemoryReminders | SqlReminders:
    return MemoryReminders() if isinstance(store, MemoryStore) else SqlReminders(store.engine)


async def new_incident(store: object, clock: ManualClock) -> int:
    incident = await store.create_incident(  # type: ignore[attr-defined]
        Incident(0, "db down", Severity.SEV2, State.INVESTIGATING, clock.now(), "alice", "console")
    )
    return incident.number


async def test_many_are_scheduled_at_once_as_one_by_one(store: object, clock: ManualClock) -> None:
    reminders = reminders_for(store)
    n = await new_incident(store, clock)
    now = clock.now()
    assert await reminders.schedule_many([]) == []
    await reminders.schedule(Reminder(n, "status_update", now, "before", key="taken"))
    batch = [
        Reminder(n, "task_due", now + timedelta(minutes=5), "one", "role:ops", key="k1"),
        Reminder(n, "remind", now, "keyless", data={"until": {"status_update": True}}),
        Reminder(n, "status_update", now, "again", key="taken"),  # stored before: skipped
        Reminder(n, "task_due", now, "two", key="k2"),
        Reminder(n, "task_due", now, "two again", key="k2"),  # the first of a key wins
        Reminder(n, "remind", now, "keyless too"),
    ]
    scheduled = await reminders.schedule_many(batch)
    assert [r.text if r else None for r in scheduled] == [
        "one",
        "keyless",
        None,
        "two",
        None,
        "keyless too",
    ]
    pending = {r.id: r for r in await reminders.pending(n)}
    assert len(pending) == 5
    for made in scheduled:
        if made is not None:
            assert made.id is not None and pending[made.id] == made


async def test_claim_fire_cancel_contract(store: object, clock: ManualClock) -> None:
    reminders = reminders_for(store)
    n = await new_incident(store, clock)
    now = clock.now()
    first = await reminders.schedule(
        Reminder(n, "status_update", now + timedelta(minutes=15), "update please", key="a")
    )
    assert first is not None and first.id is not None
    assert await reminders.schedule(Reminder(n, "status_update", now, "dup", key="a")) is None
    await reminders.schedule(Reminder(n, "task_due", now + timedelta(minutes=5), "task"))
    await reminders.schedule(Reminder(n, "retrospective", now + timedelta(days=1), "retro"))

    assert await reminders.claim_due("me", now) == []
    due = await reminders.claim_due("me", now + timedelta(minutes=15))
    assert [r.kind for r in due] == ["task_due", "status_update"]
    assert all(r.claimed_by == "me" for r in due)
    # Claimed and leased: nobody else gets them until the lease ends.
    assert await reminders.claim_due("other", now + timedelta(minutes=15, seconds=30)) == []
    assert await reminders.mark_fired(due[0].id, "other", now) is False
    assert await reminders.mark_fired(due[0].id, "me", now + timedelta(minutes=15))
    # The unfired one comes back after its lease expired.
    again = await reminders.claim_due("other", now + timedelta(minutes=17))
    assert [r.id for r in again] == [due[1].id]

    assert await reminders.cancel(n, ["retrospective"]) == 1
    assert [r.kind for r in await reminders.pending(n)] == ["status_update"]
    # Cancelled ones are never claimed; the unfired, lease-expired one still is.
    late = await reminders.claim_due("me", now + timedelta(days=2))
    assert [r.kind for r in late] == ["status_update"]


async def test_due_while_stopped_fires_exactly_once_after_restart(
    sqlite_url: str, clock: ManualClock
) -> None:
    store = SqlStore.from_url(sqlite_url)
    await migrate.upgrade(store.engine)
    n = await new_incident(store, clock)
    await SqlReminders(store.engine).schedule(
        Reminder(n, "status_update", clock.now() + timedelta(minutes=15), "update")
    )
    await store.close()  # the bot stops; the reminder falls due while it is down
    clock.advance(hours=2)

    fired: list[Reminder] = []

    async def fire(reminder: Reminder) -> None:
        fired.append(reminder)

    store = SqlStore.from_url(sqlite_url)  # restart
    try:
        ticker = Ticker(SqlReminders(store.engine), fire, clock, name="after-restart")
        assert await ticker.tick() == 1
        assert await ticker.tick(clock.advance(minutes=5)) == 0
        clock.advance(hours=1)  # well past any lease
        assert await ticker.tick() == 0
        assert [r.text for r in fired] == ["update"]
        assert await SqlReminders(store.engine).pending(n) == []
    finally:
        await store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_concurrent_replicas_never_fire_one_twice(
    backend: str, request: pytest.FixtureRequest, clock: ManualClock
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    setup = SqlStore.from_url(url)
    await migrate.upgrade(setup.engine)
    n = await new_incident(setup, clock)
    for i in range(120):
        await SqlReminders(setup.engine).schedule(
            Reminder(n, "remind", clock.now() + timedelta(seconds=i), f"r{i}")
        )
    clock.advance(hours=1)
    fired: Counter[int] = Counter()

    async def fire(reminder: Reminder) -> None:
        fired[reminder.id or 0] += 1
        await asyncio.sleep(0)  # yield, so the replicas really interleave

    # Each replica has its own engine (its own connection pool), as separate processes would.
    stores = [SqlStore.from_url(url) for _ in range(4)]
    try:
        tickers = [
            Ticker(SqlReminders(s.engine), fire, clock, name=f"replica-{i}", batch=7)
            for i, s in enumerate(stores)
        ]
        counts = await asyncio.gather(*(t.tick() for t in tickers))
        assert sum(counts) == 120
        assert len(fired) == 120 and set(fired.values()) == {1}
        rows = await SqlReminders(setup.engine).pending(n)
        assert rows == []
    finally:
        for s in stores:
            await s.close()
        await setup.close()


async def test_failed_fire_is_retried_after_the_lease(clock: ManualClock) -> None:
    reminders = MemoryReminders()
    await reminders.schedule(Reminder(1, "remind", clock.now(), "x"))
    attempts: list[int] = []

    async def flaky(reminder: Reminder) -> None:
        attempts.append(reminder.id or 0)
        if len(attempts) == 1:
            raise RuntimeError("chat is down")

    ticker = Ticker(reminders, flaky, clock, name="me")
    assert await ticker.tick() == 0
    assert await ticker.tick(clock.advance(seconds=30)) == 0  # still leased
    assert await ticker.tick(clock.advance(seconds=31)) == 1
    assert len(attempts) == 2
    assert (await reminders.pending(1)) == []
