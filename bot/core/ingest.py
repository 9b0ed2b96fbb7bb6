"""Batched timeline ingest: chat messages arrive one by one, the database gets them in batches.

Group commit without timers: a single worker takes the first waiting message, then everything
else already queued (up to `max_batch`), and writes them in one transaction. At idle a message is
written at once (a batch of one); under load, messages pile up while a write is in flight and the
next write takes them all, so there is no commit per message exactly when it would hurt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.model import Change, EventKind, Participant, TimelineEvent
from bot.core.ports import Clock, Store

log = logging.getLogger(__name__)


@dataclass
class IncomingMessage:
    platform: str
    channel_id: str
    user: str
    text: str
    occurred_at: datetime | None = None
    source_key: str | None = None
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class TimelineIngest:
    def __init__(self, store: Store, clock: Clock, *, max_batch: int = 500) -> None:
        self.store = store
        self.clock = clock
        self.max_batch = max_batch
        self._queue: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        # Channel -> incident number. Only hits are cached: an incident's channel never moves,
        # but a channel that is not an incident's yet may become one moments later (declare).
        self._incident_of: dict[tuple[str, str], int] = {}
        self.batches = 0  # how many writes were made: benchmarks and tests read it

    async def add(self, message: IncomingMessage) -> bool:
        """Queue a message; resolves once written: True if recorded, False if it was not in an
        incident channel or was a duplicate delivery."""
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="timeline-ingest")
        self._queue.put_nowait(message)
        return await message.done

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await self._write(batch)
            except Exception as error:
                log.exception("timeline ingest: writing %d messages failed", len(batch))
                for message in batch:
                    if not message.done.done():
                        message.done.set_exception(error)
                continue
            for message, recorded in zip(batch, results, strict=True):
                if not message.done.done():
                    message.done.set_result(recorded)

    async def _write(self, batch: list[IncomingMessage]) -> list[bool]:
        now = self.clock.now()
        numbers: list[int | None] = []
        for message in batch:
            numbers.append(await self._incident_number(message.platform, message.channel_id))
        events: list[TimelineEvent] = []
        participants: dict[tuple[int, str], Participant] = {}
        wanted: list[str | None] = []  # per message: its key, "" if keyless, None if dropped
        seen: set[str] = set()
        for message, number in zip(batch, numbers, strict=True):
            key = message.source_key
            if number is None or (key is not None and key in seen):
                wanted.append(None)  # not an incident channel, or a repeat within this batch
                continue
            if key is not None:
                seen.add(key)
            wanted.append(key or "")
            events.append(
                TimelineEvent(
                    number,
                    EventKind.MESSAGE,
                    message.user,
                    message.text,
                    occurred_at=message.occurred_at or now,
                    recorded_at=now,
                    source_key=key,
                )
            )
            participants.setdefault((number, message.user), Participant(number, message.user, now))
        if not events:
            return [False] * len(batch)
        recorded = await self.store.commit(
            Change(events=events, participants=list(participants.values()))
        )
        self.batches += 1
        recorded_keys = {e.source_key for e in recorded if e.source_key is not None}
        # Keyless events are always inserted; keyed ones only if the key was new.
        return [key == "" or (key is not None and key in recorded_keys) for key in wanted]

    async def _incident_number(self, platform: str, channel_id: str) -> int | None:
        key = (platform, channel_id)
        if key not in self._incident_of:
            incident = await self.store.incident_by_channel(platform, channel_id)
            if incident is None:
                return None
            self._incident_of[key] = incident.number
        return self._incident_of[key]
