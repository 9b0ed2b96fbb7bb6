"""Claims due reminders and fires them.

APScheduler only calls `tick()` every few seconds from an in-memory job store; which reminders
exist and whether they fired lives in the reminder table, so restarts lose nothing and several
replicas never fire one twice (claims are exclusive for the lease). Tests call `tick(now)`
directly with a ManualClock time instead of waiting for the scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.model import Reminder
from bot.core.ports import Clock, Reminders

log = logging.getLogger(__name__)

FireReminder = Callable[[Reminder], Awaitable[None]]

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
    ) -> None:
        self.reminders = reminders
        self.fire = fire
        self.clock = clock
        self.name = name or replica_name()
        self.batch = batch
        self._scheduler: AsyncIOScheduler | None = None
        self._ticking: asyncio.Task[None] | None = None

    async def tick(self, now: datetime | None = None) -> int:
        """Claim and fire every reminder due at `now`; return how many fired."""
        now = now or self.clock.now()
        fired = 0
        while True:
            claimed = await self.reminders.claim_due(
                self.name, now, limit=self.batch, lease_seconds=LEASE_SECONDS
            )
            for reminder in claimed:
                try:
                    await self.fire(reminder)
                except Exception:
                    # Left claimed, not fired: after the lease another tick retries it.
                    log.exception("reminder %s failed to fire", reminder.id)
                    continue
                if await self.reminders.mark_fired(reminder.id or 0, self.name, now):
                    fired += 1
            if len(claimed) < self.batch:
                return fired

    async def _scheduled_tick(self) -> None:
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
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def idle(self) -> None:
        """Wait for a tick in progress to end (after stop(), before the store closes), so no
        query is cut off half-way when the process ends."""
        ticking, self._ticking = self._ticking, None
        if ticking is not None and not ticking.done() and ticking is not asyncio.current_task():
            await asyncio.wait([ticking])
