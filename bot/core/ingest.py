"""Batched timeline ingest: chat messages arrive one by one, the database gets them in batches.

Group commit without timers: a single worker takes the first waiting message, then everything
else already waiting (up to `max_batch`), and writes them in one transaction. At idle a message
is written at once (a batch of one); under load, messages pile up while a write is in flight and
the next write takes them all, so there is no commit per message exactly when it would hurt.

Everything done per message is kept small (it is what limits throughput next to a raw bulk
insert): a message and its future go on a plain list, rows are plain tuples written with
Store.record_messages, and only users not yet known to be participants are upserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.core.model import MessageRow, Participant
from bot.core.ports import Clock, Store
from bot.core.sanitize import clean_message

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IncomingMessage:
    platform: str
    channel_id: str
    user: str
    text: str
    occurred_at: datetime | None = None
    source_key: str | None = None
    inbox_key: str | None = None  # marked done in the batch's transaction


class TimelineIngest:
    def __init__(self, store: Store, clock: Clock, *, max_batch: int = 500) -> None:
        self.store = store
        self.clock = clock
        self.max_batch = max_batch
        # Messages waiting for the worker, and the futures their callers await (same order).
        self._waiting: list[IncomingMessage] = []
        self._futures: list[asyncio.Future[bool]] = []
        self._wake: asyncio.Future[None] | None = None  # set while the worker has nothing to do
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Channel -> incident number. Only hits are cached: an incident's channel never moves,
        # but a channel that is not an incident's yet may become one moments later (declare).
        self._incident_of: dict[tuple[str, str], int] = {}
        # Incident number -> users known to be its participants (written by an earlier batch):
        # people keep talking, and re-upserting them with every batch is wasted work.
        self._participants: dict[int, set[str]] = {}
        self.batches = 0  # how many writes were made: benchmarks and tests read it
        self._idle = asyncio.Event()  # nothing waiting and nothing being written
        self._idle.set()

    async def add(self, message: IncomingMessage) -> bool:
        """Queue a message; resolves once written: True if recorded, False if it was not in an
        incident channel or was a duplicate delivery."""
        if self._worker is None or self._worker.done():
            self._loop = asyncio.get_running_loop()
            self._worker = self._loop.create_task(self._run(), name="timeline-ingest")
        assert self._loop is not None
        done: asyncio.Future[bool] = self._loop.create_future()
        self._waiting.append(message)
        self._futures.append(done)
        self._idle.clear()
        wake = self._wake
        if wake is not None:
            self._wake = None
            if not wake.done():
                wake.set_result(None)
        return await done

    async def flush(self) -> None:
        """Wait until every message handed over so far is written (or failed)."""
        if self._worker is not None and not self._worker.done():
            await self._idle.wait()

    async def close(self) -> None:
        await self.flush()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _run(self) -> None:
        assert self._loop is not None
        while True:
            if not self._waiting:
                self._idle.set()
                self._wake = self._loop.create_future()
                await self._wake
                continue
            if len(self._waiting) <= self.max_batch:
                batch, self._waiting = self._waiting, []
                futures, self._futures = self._futures, []
            else:
                batch = self._waiting[: self.max_batch]
                futures = self._futures[: self.max_batch]
                del self._waiting[: self.max_batch], self._futures[: self.max_batch]
            try:
                results = await self._write(batch)
            except Exception as error:
                log.exception("timeline ingest: writing %d messages failed", len(batch))
                for done in futures:
                    if not done.done():
                        done.set_exception(error)
                continue
            for done, recorded in zip(futures, results, strict=True):
                if not done.done():
                    done.set_result(recorded)

    async def _write(self, batch: list[IncomingMessage]) -> list[bool]:
        results, learn = await self._record(batch)
        learn()
        return results

    async def record_now(self, batch: list[IncomingMessage]) -> Callable[[], None]:
        """Record messages at once, inside the caller's transaction (the inbox's group commit
        that records their events: one transaction for both). Returns what to call once that
        transaction has committed (the participants cache must not learn of rows that a
        rollback took back)."""
        _, learn = await self._record(batch, own_transaction=False)
        return learn

    async def _record(
        self, batch: list[IncomingMessage], *, own_transaction: bool = True
    ) -> tuple[list[bool], Callable[[], None]]:
        now = self.clock.now()
        incident_of = self._incident_of
        rows: list[MessageRow] = []
        positions: list[int] = []  # where each row's message is in the batch
        not_incidents: set[tuple[str, str]] = set()  # looked up once per batch, not per message
        for position, message in enumerate(batch):
            channel = (message.platform, message.channel_id)
            number = incident_of.get(channel)
            if number is None:
                if channel in not_incidents:
                    continue
                number = await self._incident_number(*channel)
                if number is None:
                    not_incidents.add(channel)
                    continue  # not an incident channel
            rows.append(
                MessageRow(
                    number,
                    message.user,
                    clean_message(message.text),
                    message.occurred_at or now,
                    now,
                    message.source_key,
                )
            )
            positions.append(position)
        inbox_keys = [m.inbox_key for m in batch if m.inbox_key]
        if not rows:
            if inbox_keys:
                await self.store.record_messages([], [], inbox_keys)
            return [False] * len(batch), _nothing
        new_participants = [
            Participant(number, user, now)
            for number, user in dict.fromkeys((row.incident_number, row.actor) for row in rows)
            if user not in self._participants.get(number, ())
        ]
        if inbox_keys:
            recorded = await self.store.record_messages(rows, new_participants, inbox_keys)
        else:
            recorded = await self.store.record_messages(rows, new_participants)
        self.batches += own_transaction

        def learn() -> None:
            for participant in new_participants:
                known = self._participants.setdefault(participant.incident_number, set())
                known.add(participant.user)

        if len(rows) == len(batch):
            return recorded, learn
        results = [False] * len(batch)
        for position, ok in zip(positions, recorded, strict=True):
            results[position] = ok
        return results, learn

    async def _incident_number(self, platform: str, channel_id: str) -> int | None:
        key = (platform, channel_id)
        if key not in self._incident_of:
            incident = await self.store.incident_by_channel(platform, channel_id)
            if incident is None:
                return None
            self._incident_of[key] = incident.number
        return self._incident_of[key]


def _nothing() -> None:
    pass
