"""A reminder whose firing fails is retried with a backoff that doubles, up to a bound; then
it is marked failed, logged once, listed as failed, and never claimed again, while the
reminders beside it fire once. On every store, with the injected clock."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.core.clock import ManualClock
from bot.core.model import Incident, Reminder, ReminderState, Severity, State
from bot.schedule import ticker as ticker_module
from bot.schedule.ticker import Ticker
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders, SqlReminders


class Unreadable(Exception):
    """What firing the bad reminder runs into (its incident cannot be read, say)."""


async def test_a_reminder_that_fails_to_fire_backs_off_then_fails_for_good(
    store: object, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    memory = isinstance(store, MemoryStore)
    reminders = MemoryReminders() if memory else SqlReminders(store.engine)  # type: ignore[attr-defined]
    incident = await store.create_incident(  # type: ignore[attr-defined]
        Incident(0, "db down", Severity.SEV2, State.INVESTIGATING, clock.now(), "alice", "console")
    )
    number = incident.number
    for text in ("before", "bad", "after"):
        await reminders.schedule(Reminder(number, "remind", clock.now(), text))
    tried: list[str] = []

    async def fire(reminder: Reminder) -> None:
        # (On a database a failed batch is rolled back and fired again one at a time, so
        # what counts is what the store recorded, not how often this ran.)
        tried.append(reminder.text)
        if reminder.text == "bad":
            raise Unreadable("incident row unreadable")

    options = {} if memory else {"transaction": store.transaction}  # type: ignore[attr-defined]
    ticker = Ticker(reminders, fire, clock, name="t", **options)
    caplog.set_level(logging.WARNING)

    async def attempts_of_bad() -> int:
        pending = await reminders.pending(number)
        return pending[0].attempts if pending else -1

    assert await ticker.tick() == 2  # the other two fired
    (bad,) = await reminders.pending(number)
    assert bad.text == "bad" and bad.attempts == 1
    assert bad.error == "Unreadable: incident row unreadable"
    delays = []
    for attempt in range(1, ticker_module.MAX_ATTEMPTS):
        delay = ticker_module.retry_delay(attempt)
        delays.append(delay)
        # Not tried again before its backoff has passed (the lease alone is shorter)...
        clock.advance(seconds=delay - 1)
        tries = len(tried)
        assert await ticker.tick() == 0
        assert len(tried) == tries, f"retried before its backoff ({attempt})"
        # ...and tried when it has (a lease is free once past its end).
        clock.advance(seconds=2)
        assert await ticker.tick() == 0
        assert len(tried) > tries
        if attempt + 1 < ticker_module.MAX_ATTEMPTS:
            assert await attempts_of_bad() == attempt + 1
    assert delays == sorted(delays) and delays[0] < delays[-1]
    assert delays[-1] > ticker_module.LEASE_SECONDS
    # After the last attempt: failed for good, never claimed again.
    assert await reminders.pending(number) == []
    tries = len(tried)
    clock.advance(hours=6)
    assert await ticker.tick() == 0
    assert len(tried) == tries
    gave_up = [r for r in caplog.records if "failed for good" in r.getMessage()]
    assert len(gave_up) == 1 and gave_up[0].levelno == logging.ERROR
    retried = [r for r in caplog.records if "failed to fire (attempt" in r.getMessage()]
    assert len(retried) == ticker_module.MAX_ATTEMPTS - 1
    assert all(r.levelno == logging.WARNING for r in retried)
    (line,) = await reminders.failed(number)
    assert line.startswith("a reminder due ")
    assert line.endswith(f"failed after {ticker_module.MAX_ATTEMPTS} attempts: {bad.error}")
    if not memory:
        assert line in await store.undelivered(number)  # type: ignore[attr-defined]


async def test_a_failed_attempt_is_fenced_by_the_claim(store: object, clock: ManualClock) -> None:
    """Recording an attempt or the failure needs the claim: a replica whose lease ran out
    and was taken over records nothing over the new claimant's."""
    memory = isinstance(store, MemoryStore)
    reminders = MemoryReminders() if memory else SqlReminders(store.engine)  # type: ignore[attr-defined]
    incident = await store.create_incident(  # type: ignore[attr-defined]
        Incident(0, "db down", Severity.SEV2, State.INVESTIGATING, clock.now(), "alice", "console")
    )
    await reminders.schedule(Reminder(incident.number, "remind", clock.now(), "r"))
    (mine,) = await reminders.claim_due("a", clock.now())
    assert mine.id is not None
    later = clock.now() + timedelta(minutes=2)
    (theirs,) = await reminders.claim_due("b", later)
    assert not await reminders.retry(mine.id, "a", 1, "boom", later + timedelta(minutes=1))
    assert not await reminders.fail(mine.id, "a", 6, "boom")
    assert await reminders.retry(theirs.id, "b", 1, "boom", later + timedelta(minutes=1))
    (pending,) = await reminders.pending(incident.number)
    assert pending.attempts == 1 and pending.claimed_by == "b"
    assert await reminders.claim_due("a", later + timedelta(seconds=59)) == []
    assert await reminders.fail(theirs.id, "b", 6, "boom")
    assert await reminders.pending(incident.number) == []
    assert await reminders.claim_due("a", later + timedelta(days=1)) == []
    assert pending.state is ReminderState.PENDING
