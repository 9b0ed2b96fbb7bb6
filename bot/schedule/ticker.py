"""Claims due reminders and fires them.

APScheduler only calls `tick()` every few seconds from an in-memory job store; which reminders
exist and whether they fired lives in the reminder table, so restarts lose nothing and several
replicas never fire one twice (claims are exclusive for the lease). Tests call `tick(now)`
directly with a ManualClock time instead of waiting for the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.model import Reminder
from bot.core.ports import Clock, Reminders

log = logging.getLogger(__name__)

FireReminder = Callable[[Reminder], Awaitable[None]]
Transaction = Callable[[], AbstractAsyncContextManager[Any]]


@contextlib.asynccontextmanager
async def _no_transaction() -> Any:
    yield None


TICK_SECONDS = 5.0
LEASE_SECONDS = 60


def replica_name() -> str:
    """Unique per process: who holds a claim (visible in the reminder table when debugging)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Ticker:
    def __init__(
        self,
        reminders: Reminders,
        fire: FireReminder,
        clock: Clock,
        *,
        name: str | None = None,
        batch: int = 50,
        transaction: Transaction = _no_transaction,
        woke: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.reminders = reminders
        self.fire = fire
        self.clock = clock
        self.name = name or replica_name()
        self.batch = batch
        # A claimed batch fires in one transaction: its timeline events, the outbox rows of
        # its posts and the `fired` marks commit together (the posts go out afterwards, from
        # the outbox, so a slow chat never holds a reminder's lease).
        self.transaction = transaction
        self.woke = woke
        self._scheduler: AsyncIOScheduler | None = None
        self._ticking: asyncio.Task[None] | None = None
        self._stopped = False

    async def tick(self, now: datetime | None = None) -> int:
        """Claim and fire every reminder due at `now`; return how many fired."""
        due = now or self.clock.now()
        fired = 0
        while True:
            # Each claim's lease runs from the time of that claim, not from the start of the
            # tick: a long tick must not hand out leases that have already expired.
            claim_at = max(due, self.clock.now())
            claimed = await self.reminders.claim_due(
                self.name, claim_at, limit=self.batch, lease_seconds=LEASE_SECONDS, due_by=due
            )
            if self.transaction is _no_transaction:
                fired += await self._fire_each(claimed)
            else:
                try:
                    async with self.transaction():
                        fired += await self._fire_all(claimed)
                except Exception:
                    # One failed: fire the batch one by one, so the others are not held back.
                    log.warning("reminder batch failed; firing one at a time", exc_info=True)
                    for reminder in claimed:
                        try:
                            async with self.transaction():
                                fired += await self._fire_all([reminder])
                        except Exception:
                            # Left claimed, not fired: after the lease another tick retries it.
                            log.exception("reminder %s failed to fire", reminder.id)
            if self.woke is not None and claimed:
                await self.woke()
            if len(claimed) < self.batch:
                return fired

    async def _fire_all(self, claimed: list[Reminder]) -> int:
        """Inside one transaction: marked first (a lost claim fires nothing here), then fired;
        a failure rolls both back."""
        fired = 0
        for reminder in claimed:
            if await self.reminders.mark_fired(reminder.id or 0, self.name, self.clock.now()):
                await self.fire(reminder)
                fired += 1
        return fired

    async def _fire_each(self, claimed: list[Reminder]) -> int:
        """Without transactions (in memory): fire, then mark; a failure leaves it claimed."""
        fired = 0
        for reminder in claimed:
            try:
                await self.fire(reminder)
            except Exception:
                log.exception("reminder %s failed to fire", reminder.id)
                continue
            if await self.reminders.mark_fired(reminder.id or 0, self.name, self.clock.now()):
                fired += 1
        return fired

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
