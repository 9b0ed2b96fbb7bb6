"""Work done after an acknowledgement, in order per channel, cheaply.

Every Slack request is acknowledged first and its work runs here. A burst of 12,000 commands
must be answered while it lasts (not deferred until it ends), so the bookkeeping per item is a
deque append, not a task, a chain of waits and a semaphore: one runner task per key that has
work, taking its items in order. Items that only read (`read=True`) and follow one another run
together, after every change queued before them; changes run one at a time. Items without a key
(answers through a response_url, which depend on nothing after them) go to a small pool of
sender loops, so a slow or unreachable URL holds up neither a channel nor the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Coroutine, Hashable
from contextvars import ContextVar
from typing import Any

log = logging.getLogger(__name__)

Work = Coroutine[Any, Any, None]

# Keys worked on at once. It also keeps database sessions within the pool (5 + 10 overflow).
WORK_LIMIT = 4
READ_BATCH = 64  # reads of one key run together, at most this many (see _run)
SENDERS = 32  # unkeyed items (answers) in flight at once
# Backpressure: with more than HIGH_WATER items waiting, a new command's acknowledgement is
# held (at most a second, far inside Slack's 3 s) until the work is back under LOW_WATER. In
# a burst that outruns the work, answers otherwise queue for as long as the burst lasts.
HIGH_WATER = 256
LOW_WATER = 128
HOLD = 1.0  # seconds
# ...and never past this age of the request (Slack drops an ack after 3 s): the platform
# stamps each request's arrival in REQUEST_ARRIVED.
ACK_BY = 1.5
REQUEST_ARRIVED: ContextVar[float | None] = ContextVar("request_arrived", default=None)


class Worker:
    def __init__(
        self, limit: int = WORK_LIMIT, *, read_batch: int = READ_BATCH, senders: int = SENDERS
    ) -> None:
        self.limit = limit
        self.read_batch = read_batch
        self.senders = senders
        self._queues: dict[Hashable, deque[tuple[Work, bool]]] = {}
        self._waiting: deque[Hashable] = deque()  # keys with work but no runner yet (limit)
        self._runners: set[asyncio.Task[None]] = set()
        self._unkeyed: deque[Work] = deque()
        self._senders: set[asyncio.Task[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # urgent items
        self._pending = 0
        self.high_water = HIGH_WATER
        self.low_water = LOW_WATER
        self.hold = HOLD
        self._room: asyncio.Event | None = None  # set when the backlog falls to low_water
        # The latest failures, for health checks and tests (the log has the tracebacks).
        self.failures: deque[Exception] = deque(maxlen=100)

    def submit(
        self, key: Hashable | None, work: Work, *, read: bool = False, urgent: bool = False
    ) -> None:
        """Queue `work` behind the key's earlier items; `urgent` starts it at once (opening a
        form before its trigger_id expires); no key: after nothing, in the senders' pool."""
        self._pending += 1
        if urgent:
            self._track(self._tasks, self._guard(work))
        elif key is None:
            self._unkeyed.append(work)
            if len(self._senders) < self.senders:
                self._track(self._senders, self._send())
        elif (queue := self._queues.get(key)) is not None:
            queue.append((work, read))
        else:
            self._queues[key] = deque([(work, read)])
            if len(self._runners) < self.limit:
                self._track(self._runners, self._run(key))
            else:
                self._waiting.append(key)

    def _track(self, tasks: set[asyncio.Task[None]], coro: Work) -> None:
        task = asyncio.create_task(coro)
        tasks.add(task)  # a reference kept, so no task is garbage-collected mid-flight
        task.add_done_callback(tasks.discard)

    async def _guard(self, work: Work) -> None:
        try:
            await work
        except Exception as error:
            self.failures.append(error)
            log.exception("slack: background work failed")
        finally:
            self._pending -= 1
            if self._room is not None and self._pending <= self.low_water:
                self._room.set()
                self._room = None

    async def _run(self, key: Hashable) -> None:
        while True:
            queue = self._queues[key]
            while queue:
                work, read = queue.popleft()
                if read and queue and queue[0][1]:
                    batch = [work]
                    while queue and queue[0][1] and len(batch) < self.read_batch:
                        batch.append(queue.popleft()[0])
                    await asyncio.gather(*(self._guard(w) for w in batch))
                else:
                    await self._guard(work)
            del self._queues[key]  # no await since the queue was seen empty: nothing is lost
            if not self._waiting:
                return
            key = self._waiting.popleft()  # this runner takes the next key that waited

    async def _send(self) -> None:
        while self._unkeyed:
            await self._guard(self._unkeyed.popleft())

    async def wait_for_room(self) -> None:
        """Return at once unless more than `high_water` items wait; then once the work is
        back under `low_water`, after `hold` seconds, or when the request being handled
        (REQUEST_ARRIVED) is ACK_BY old, whichever comes first."""
        if self._pending <= self.high_water:
            return
        hold = self.hold
        arrived = REQUEST_ARRIVED.get()
        if arrived is not None:
            hold = min(hold, arrived + ACK_BY - asyncio.get_running_loop().time())
        if hold <= 0:
            return
        if self._room is None:
            self._room = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(hold):
                await self._room.wait()

    def busy(self, key: Hashable) -> bool:
        """Has the key work queued or running (a read after it would not see it)?"""
        return key in self._queues

    @property
    def pending(self) -> int:
        """Items submitted and not yet finished."""
        return self._pending

    async def drain(self) -> None:
        """Wait until all work, including work submitted by work, is done (shutdown, and
        tests before they look)."""
        while tasks := self._runners | self._senders | self._tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
