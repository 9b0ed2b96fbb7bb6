"""Leases of claimed reminders: each claim's lease runs from the time of that claim, however
long the tick has been running, and where reminders fire one at a time the lease is renewed
as they go, so a second replica never takes over reminders still being fired."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from bot.core.clock import ManualClock
from bot.core.model import Incident, Reminder, Severity, State
from bot.schedule.ticker import LEASE_SECONDS, Ticker
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders, SqlReminders

SLOW = 25  # seconds each reminder takes to fire: a batch of 4 outlasts the lease


async def test_a_tick_longer_than_the_lease_hands_out_no_expired_lease(
    store: object, clock: ManualClock
) -> None:
    memory = isinstance(store, MemoryStore)
    reminders = MemoryReminders() if memory else SqlReminders(store.engine)  # type: ignore[attr-defined]
    incident = await store.create_incident(  # type: ignore[attr-defined]
        Incident(0, "db down", Severity.SEV2, State.INVESTIGATING, clock.now(), "alice", "console")
    )
    for i in range(12):
        await reminders.schedule(Reminder(incident.number, "remind", clock.now(), f"r{i}"))
    started = clock.now()
    seen: list[tuple[datetime | None, datetime]] = []

    async def slow_fire(reminder: Reminder) -> None:
        # The lease as claimed, and the time it fires at.
        seen.append((reminder.lease_until, clock.now()))
        clock.advance(seconds=SLOW)

    options = {} if memory else {"transaction": store.transaction}  # type: ignore[attr-defined]
    ticker = Ticker(reminders, slow_fire, clock, name="slow", batch=4, **options)
    assert await ticker.tick() == 12
    assert clock.now() - started > 2 * timedelta(seconds=LEASE_SECONDS)  # a long tick
    # The first of each batch fires right after its claim: its lease is a full one from
    # then, not from the start of the tick (which had run out by the second batch).
    for lease, fired_at in seen[::4]:
        assert lease == fired_at + timedelta(seconds=LEASE_SECONDS)
    # Every reminder was leased when it was claimed.
    for batch in range(3):
        claimed_at = seen[batch * 4][1]
        assert all(lease and lease > claimed_at for lease, _ in seen[batch * 4 : batch * 4 + 4])


async def test_a_replica_ticking_during_a_long_tick_takes_over_nothing(
    clock: ManualClock,
) -> None:
    """Fired one at a time (no transactions), a batch that outlasts its lease is renewed as
    it goes: another replica ticking past the original lease finds nothing of it to take."""
    reminders = MemoryReminders()
    for i in range(20):
        await reminders.schedule(Reminder(1, "remind", clock.now(), f"r{i}"))
    fired: Counter[int] = Counter()
    fired_by: dict[str, list[int]] = {"a": [], "b": []}

    async def b_fire(reminder: Reminder) -> None:
        fired[reminder.id or 0] += 1
        fired_by["b"].append(reminder.id or 0)

    b = Ticker(reminders, b_fire, clock, name="b", batch=5)
    b_ticks: list[int] = []

    async def a_fire(reminder: Reminder) -> None:
        fired[reminder.id or 0] += 1
        fired_by["a"].append(reminder.id or 0)
        clock.advance(seconds=SLOW)
        if len(fired_by["a"]) % 5 == 3:
            # Mid-batch, 75 s after this batch was claimed: the other replica ticks.
            b_ticks.append(await b.tick())

    a = Ticker(reminders, a_fire, clock, name="a", batch=5)
    fired_count = await a.tick()
    assert fired_count + sum(b_ticks) == 20
    assert len(fired) == 20 and set(fired.values()) == {1}
    # b did tick past a's original lease, and took only what a had not claimed.
    assert b_ticks and fired_by["b"]
    assert not set(fired_by["a"]) & set(fired_by["b"])
