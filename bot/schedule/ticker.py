"""Claims due reminders and fires them.

APScheduler only calls `tick()` every few seconds from an in-memory job store; which reminders
exist and whether they fired lives in the reminder table, so restarts lose nothing and several
replicas never fire one twice. Tests call `tick(now)` directly with a ManualClock time instead
of waiting for the scheduler.

On a database a tick is set-based: each batch is claimed by one statement and fired in the
same transaction (marked fired, fenced by the claim; its timeline events and the outbox rows
of its posts written in bulk), so one commit serves the whole batch and the posts go out
afterwards from the outbox, where a slow chat holds no reminder. While that transaction is
open the claimed rows are locked (Postgres: the claim's FOR UPDATE SKIP LOCKED; SQLite: its
single writer), so nobody else can take them even if it outlasts the lease. Only where
reminders fire one at a time (a batch that failed, or no transactions, in memory) does the
lease guard them, and there it is renewed as they go.

A reminder whose firing fails there (its incident cannot be read, its outbox row cannot be
written, anything) is not retried every lease forever: the attempt is counted and the
reminder held for a backoff that doubles each time; after `max_attempts` it is marked
failed, logged once, and shown by `/incident show`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.model import Reminder
from bot.core.ports import Clock, Reminders
from bot.core.reminding import Mark

log = logging.getLogger(__name__)

FireReminder = Callable[[Reminder], Awaitable[None]]
# Fires a claimed batch inside the open transaction, marking what it fires through `Mark`;
# returns how many fired (PlaybookRunner.fire_batch).
FireBatch = Callable[[Sequence[Reminder], Mark], Awaitable[int]]
Transaction = Callable[[], AbstractAsyncContextManager[Any]]


@contextlib.asynccontextmanager
async def _no_transaction() -> Any:
    yield None


TICK_SECONDS = 5.0
LEASE_SECONDS = 60
BATCH = 200
MAX_ATTEMPTS = 6
RETRY_BASE = float(LEASE_SECONDS)  # seconds before the first retry, doubled per attempt
MAX_RETRY_DELAY = 900.0


def retry_delay(attempts: int) -> float:
    """Seconds to hold a reminder after its `attempts`-th failed attempt."""
    return min(RETRY_BASE * 2 ** max(attempts - 1, 0), MAX_RETRY_DELAY)


def replica_name() -> str:
    """Unique per process: who holds a claim (visible in the reminder table when debugging)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class _Held:
    """Reminders claimed but not yet fired, one at a time, and until when we hold them."""

    until: datetime
    ids: set[int]


class Ticker:
    def __init__(
        self,
        reminders: Reminders,
        fire: FireReminder,
        clock: Clock,
        *,
        name: str | None = None,
        batch: int = BATCH,
        transaction: Transaction = _no_transaction,
        woke: Callable[[], Awaitable[None]] | None = None,
        fire_batch: FireBatch | None = None,
        lease_seconds: int = LEASE_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.reminders = reminders
        self.fire = fire
        self.clock = clock
        self.name = name or replica_name()
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.transaction = transaction
        self.fire_batch = fire_batch
        # Called after each batch commits (the outbox worker: its rows are there now).
        self.woke = woke
        self._scheduler: AsyncIOScheduler | None = None
        self._ticking: asyncio.Task[None] | None = None
        self._stopped = False

    async def tick(self, now: datetime | None = None) -> int:
        """Claim and fire every reminder due at `now`; return how many fired."""
        due = now or self.clock.now()
        fired = 0
        while True:
            if self.transaction is _no_transaction:
                claimed = await self._claim(due)
                fired += await self._fire_each(claimed)
            else:
                try:
                    async with self.transaction():
                        claimed = await self._claim(due)
                        fired += await self._fire_claimed(claimed)
                except Exception:
                    # Rolled back, claim and all. Claim again (committed, so leased) and fire
                    # one at a time, so one bad reminder does not hold back the others.
                    log.warning("reminder batch failed; firing one at a time", exc_info=True)
                    claimed = await self._claim(due)
                    fired += await self._fire_one_by_one(claimed)
            if self.woke is not None and claimed:
                await self.woke()
            if len(claimed) < self.batch:
                return fired

    async def _claim(self, due: datetime) -> list[Reminder]:
        # The lease runs from the time of this claim, not from the start of the tick: a long
        # tick must not hand out leases that have already expired.
        return await self.reminders.claim_due(
            self.name,
            max(due, self.clock.now()),
            limit=self.batch,
            lease_seconds=self.lease_seconds,
            due_by=due,
        )

    async def _mark(self, reminders: list[Reminder]) -> list[Reminder]:
        ids = {r.id for r in reminders if r.id is not None}
        marked = await self.reminders.mark_fired_many(ids, self.name, self.clock.now())
        return [r for r in reminders if r.id in marked]

    async def _fire_claimed(self, claimed: list[Reminder]) -> int:
        """Inside the open transaction: fire the batch; a failure rolls all of it back."""
        if not claimed:
            return 0
        if self.fire_batch is not None:
            return await self.fire_batch(claimed, self._mark)
        fired = 0
        for reminder in claimed:
            if await self._mark([reminder]):
                await self.fire(reminder)
                fired += 1
        return fired

    async def _fire_one_by_one(self, claimed: list[Reminder]) -> int:
        """Each claimed reminder in its own transaction, holding the rest meanwhile."""

        async def fire_one(reminder: Reminder) -> int:
            async with self.transaction():
                return await self._fire_claimed([reminder])

        return await self._one_at_a_time(claimed, fire_one)

    async def _fire_each(self, claimed: list[Reminder]) -> int:
        """Without transactions (in memory): fire, then mark; a failure leaves it claimed."""

        async def fire_one(reminder: Reminder) -> int:
            await self.fire(reminder)
            return 1 if await self._mark([reminder]) else 0

        return await self._one_at_a_time(claimed, fire_one)

    async def _one_at_a_time(
        self, claimed: list[Reminder], fire_one: Callable[[Reminder], Awaitable[int]]
    ) -> int:
        held = self._held(claimed)
        fired = 0
        for reminder in claimed:
            if not await self._still_mine(held, reminder):
                continue
            try:
                fired += await fire_one(reminder)
            except Exception as error:
                held.ids.discard(reminder.id)  # held by its backoff now, not renewed with these
                await self._failed_attempt(reminder, error)
        return fired

    async def _failed_attempt(self, reminder: Reminder, error: Exception) -> None:
        """Count the attempt and hold the reminder for its backoff; after the last attempt,
        mark it failed and log it once. Should even that fail (the database away), the
        reminder stays claimed and is tried again when its lease runs out."""
        if reminder.id is None:
            return
        attempts = reminder.attempts + 1
        reason = _reason(error)
        what = f"reminder {reminder.id} ({reminder.kind} of INC-{reminder.incident_number})"
        try:
            if attempts >= self.max_attempts:
                if await self.reminders.fail(reminder.id, self.name, attempts, reason):
                    log.error(
                        "%s failed for good after %d attempts: %s",
                        what,
                        attempts,
                        reason,
                        exc_info=error,
                    )
                return
            delay = retry_delay(attempts)
            until = self.clock.now() + timedelta(seconds=delay)
            await self.reminders.retry(reminder.id, self.name, attempts, reason, until)
        except Exception:
            log.exception("%s failed to fire, and recording that failed too", what)
            return
        log.warning(
            "%s failed to fire (attempt %d of %d): %s; retrying in %.0fs",
            what,
            attempts,
            self.max_attempts,
            reason,
            delay,
            exc_info=error,
        )

    def _held(self, claimed: list[Reminder]) -> _Held:
        until = min((r.lease_until for r in claimed if r.lease_until), default=self.clock.now())
        return _Held(until, {r.id for r in claimed if r.id is not None})

    async def _still_mine(self, held: _Held, reminder: Reminder) -> bool:
        """Before firing one: a lease within a third of its end is renewed first (for all
        still held), and one that ran out and was taken by another replica is left to it."""
        now = self.clock.now()
        if now + timedelta(seconds=self.lease_seconds / 3) >= held.until:
            held.until = now + timedelta(seconds=self.lease_seconds)
            held.ids = await self.reminders.renew(held.ids, self.name, held.until)
        return reminder.id in held.ids

    async def _scheduled_tick(self) -> None:
        if self._stopped:
            # A tick APScheduler submitted just before stop() but started after it (and after
            # idle() looked): running it would query a store that is being closed, and its
            # cancelled connection then hangs the interpreter's exit.
            return
        self._ticking = asyncio.current_task()
        try:
            await self.tick()
        except asyncio.CancelledError:
            # The process is ending mid-tick (end of console input, Ctrl-C, shutdown): a claim
            # left behind lapses with its lease and a later tick fires it. Returning, not
            # re-raising, keeps APScheduler from logging a traceback for an orderly exit.
            return
        except Exception:
            # The database may be briefly away; the next tick tries again.
            log.exception("reminder tick failed")

    def start(self, interval: float = TICK_SECONDS) -> None:
        """Start ticking on the running event loop."""
        if self._scheduler is not None:
            return
        self._stopped = False
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.add_job(
            self._scheduled_tick,
            "interval",
            seconds=interval,
            id="reminder-ticker",
            max_instances=1,
            coalesce=True,
            next_run_time=self.clock.now(),
        )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        self._stopped = True
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def idle(self) -> None:
        """Wait for a tick in progress to end (after stop(), before the store closes), so no
        query is cut off half-way when the process ends."""
        ticking, self._ticking = self._ticking, None
        if ticking is not None and not ticking.done() and ticking is not asyncio.current_task():
            await asyncio.wait([ticking])


def _reason(error: Exception) -> str:
    """One line for people (`/incident show`): a database error's own message, without the
    statement and parameters SQLAlchemy appends."""
    detail = str(getattr(error, "orig", None) or error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {detail[0]}"[:300]
