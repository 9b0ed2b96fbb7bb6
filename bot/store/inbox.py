"""The inbox: inbound events and commands recorded before they are acknowledged.

`accept` queues an item and returns once it is on disk: one writer task turns whatever has
queued meanwhile into one INSERT ... ON CONFLICT DO NOTHING (a group commit), so a burst of
events costs one transaction, not one each. The platform id is the key, so a redelivery is a
DUPLICATE and is acknowledged without being handled twice.

When the database cannot be reached, events are spooled to a local append-only journal
(fsync'd, one JSON line each) and acknowledged: Slack does not retry a slash command at all and
a Mattermost websocket event is never sent again, so withholding the acknowledgement would lose
them, whereas the journal keeps every event over an outage of any length. Once the database
answers again the journal is copied into the inbox in order and handled like any new item.
Commands are not spooled: their user is told the database is unavailable (StoreUnavailable) and
retries, which is better than an answer arriving minutes later.

A message posted in a channel is handled by appending it to the timeline, so the group commit
that records its event appends it too and records the row `done` (Accepted.DONE): one
transaction per burst instead of two (the inbox's, then the ingest's), and what is acknowledged
is on the timeline already. The event's key and its message commit together, so a retry of an
acknowledged event is a DUPLICATE and its message is there exactly once; should the messages
fail to go in, the batch is written again without them and handled the usual way.

Items whose handling never finished (a crash, SIGKILL) stay `pending`; `replay_pending` hands
them to their platform's handler again at start and, for items older than a minute, periodically.
Handling is fenced by the inbox row (bot/store/sql.py `transaction`), so a replay never repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.ports import Accepted, Clock, StoreUnavailable
from bot.store import session
from bot.store.tables import InboxRow

log = logging.getLogger(__name__)

INBOX = InboxRow.__table__
ACK_DEADLINE = 2.0  # Slack drops what is not acknowledged in 3 s: spool rather than wait
REPLAY_AFTER = timedelta(minutes=1)


@dataclass(slots=True)
class InboxItem:
    key: str
    platform: str
    kind: str
    payload: dict[str, Any]
    received_at: datetime
    spool: bool = True
    # A message (bot.core.ingest.IncomingMessage) whose recording is the item's whole
    # handling: appended by the transaction that records the item (see Recorder).
    message: Any = None


Handler = Callable[[InboxItem], Awaitable[None]]
# Records messages inside the current (ambient) transaction; returns what to call once it has
# committed (TimelineIngest.record_now).
Recorder = Callable[[list[Any]], Awaitable[Callable[[], None]]]


def _row(item: InboxItem, done: datetime | None = None) -> dict[str, Any]:
    """The inbox row of an item: the one shape for new items and for journal replays; `done`
    when the transaction that records it also handles it."""
    return {
        "key": item.key,
        "platform": item.platform,
        "kind": item.kind,
        "payload": item.payload,
        "received_at": item.received_at,
        "state": "pending" if done is None else "done",
        "processed_at": done,
    }


def _refusal(error: Exception) -> Exception:
    """What waiters are told when a group commit failed: StoreUnavailable when the database
    is away (they say so to the user), the error itself otherwise (a bug: logged)."""
    if isinstance(error, StoreUnavailable):
        return error
    if isinstance(error, TimeoutError) or session.unavailable(error):
        return StoreUnavailable(str(error) or type(error).__name__)
    return error


def _ignore(done: asyncio.Future[str]) -> None:
    if not done.cancelled():
        done.exception()  # retrieved: nobody waits for it any more


class SqlInbox:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        journal: str | Path | None = None,
        *,
        max_batch: int = 1000,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.journal = Path(journal) if journal else None
        self.max_batch = max_batch
        self.handlers: dict[str, Handler] = {}
        self.recorder: Recorder | None = None  # set by the composition root (bot/app.py)
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._insert = (
            insert(INBOX).on_conflict_do_nothing(index_elements=["key"]).returning(INBOX.c.key)
        )
        self._waiting: list[tuple[InboxItem, asyncio.Future[str]]] = []
        # Keys whose handling finished without a transaction of its own (reads): marked done
        # in the writer's next group commit, beside the items being accepted.
        self._finishing: list[tuple[str, asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._journal_lock = asyncio.Lock()
        self._idle = asyncio.Event()
        self._idle.set()
        self._outage = False
        self.commits = 0  # group commits made: tests and benchmarks read it
        self.spooled = 0

    # -- accepting -----------------------------------------------------------------------------

    async def accept(
        self,
        key: str,
        platform: str,
        kind: str,
        payload: dict[str, Any],
        *,
        spool: bool = True,
        message: Any = None,
    ) -> str:
        done: asyncio.Future[str] = self._start().create_future()
        item = InboxItem(key, platform, kind, payload, self.clock.now(), spool, message)
        self._waiting.append((item, done))
        if not (spool and self.journal is not None):
            return await done
        # A database that hangs (rather than refusing) must not cost Slack's 3 s: past the
        # deadline the event goes to the journal too. The write is not cancelled (a cancelled
        # SQLite write can keep its lock); if it lands as well, the key makes them one.
        finished, _ = await asyncio.wait({done}, timeout=ACK_DEADLINE)
        if finished:
            return done.result()
        done.add_done_callback(_ignore)
        await self._append_journal([item])
        self.spooled += 1
        log.warning("inbox: database slow to answer; %s spooled to %s", key, self.journal)
        return Accepted.SPOOLED

    async def finish(self, key: str) -> bool:
        """Mark an item done whose handling wrote nothing (a read: it needs no transaction
        of its own); False if it was done already (another replica or a replay answered it).
        Group-committed with the items being accepted, so a burst of reads costs no
        transaction each. Raises StoreUnavailable while the database is away."""
        done: asyncio.Future[bool] = self._start().create_future()
        self._finishing.append((key, done))
        return await done

    def _start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._run(), name="inbox")
        self._idle.clear()
        self._wake.set()
        return loop

    async def _run(self) -> None:
        while True:
            if not self._waiting and not self._finishing:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            finishes = self._finishing[: self.max_batch]
            self._finishing = self._finishing[self.max_batch :]
            keys = [key for key, _ in finishes]
            try:
                outcomes, finished = await self._write([item for item, _ in batch], keys)
            except Exception as error:
                outcomes = await self._spool_or_refuse(batch, error)
                failed = _refusal(error)
                for _, future in finishes:
                    if not future.done():
                        future.set_exception(failed)
            else:
                for key, future in finishes:
                    if not future.done():
                        future.set_result(key in finished)
                        finished.discard(key)  # the same key twice: the first finished it
            for (_, done), outcome in zip(batch, outcomes, strict=True):
                if done.done():
                    continue
                if isinstance(outcome, BaseException):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)

    async def _write(
        self, items: list[InboxItem], finishes: list[str]
    ) -> tuple[list[str], set[str]]:
        if self.journal is not None and self._journal_has_items():
            # An outage is not over for us until the journal is in: keep the order.
            await self.replay_journal()
        inline = self.recorder is not None and any(i.message is not None for i in items)
        try:
            return await self._commit(items, finishes, inline=inline)
        except Exception as error:
            if not inline or isinstance(error, StoreUnavailable) or session.unavailable(error):
                raise
            # A bug or a constraint in the messages must not cost the events: record them
            # alone (pending), and the ingest handles them as it handles a replay.
            log.exception("inbox: recording messages with their events failed; apart now")
            return await self._commit(items, finishes, inline=False)

    async def _commit(
        self, items: list[InboxItem], finishes: list[str], *, inline: bool
    ) -> tuple[list[str], set[str]]:
        """One group commit: the items, the finished keys and (`inline`) the items' messages."""
        now = self.clock.now() if inline else None
        rows = [_row(i, now if i.message is not None else None) for i in items]
        handled: set[str] = set()
        async with session.transaction(self.engine) as tx:
            conn = tx.conn
            new = set((await conn.execute(self._insert, rows)).scalars()) if rows else set()
            if inline and self.recorder is not None:
                messages = []
                for item in items:
                    if item.message is not None and item.key in new and item.key not in handled:
                        handled.add(item.key)  # the same key twice: the first one's message
                        messages.append(item.message)
                if messages:
                    tx.committed.append(await self.recorder(messages))
            finished: set[str] = set()
            if finishes:
                done = await conn.execute(
                    update(INBOX)
                    .where(INBOX.c.key.in_(finishes), INBOX.c.state == "pending")
                    .values(state="done", processed_at=func.now())
                    .returning(INBOX.c.key)
                )
                finished = set(done.scalars())
        self.commits += 1
        outcomes = []
        for item in items:
            if item.key in new:
                new.discard(item.key)  # the same key twice in one burst: the first is new
                outcomes.append(Accepted.DONE if item.key in handled else Accepted.NEW)
            else:
                outcomes.append(Accepted.DUPLICATE)
        return outcomes, finished

    async def _spool_or_refuse(
        self, batch: list[tuple[InboxItem, asyncio.Future[str]]], error: Exception
    ) -> list[str | BaseException]:
        refused = _refusal(error)
        if not isinstance(refused, StoreUnavailable):
            log.exception("inbox: recording %d items failed", len(batch))
            return [error] * len(batch)
        spool = [item for item, _ in batch if item.spool]
        if spool and self.journal is not None:
            try:
                await self._append_journal(spool)
            except OSError:
                log.exception("inbox: the journal %s cannot be written", self.journal)
                return [refused] * len(batch)
            self.spooled += len(spool)
            if not self._outage:  # said once per outage, not once per event
                self._outage = True
                log.warning(
                    "inbox: database unavailable (%s); spooling events to %s until it is back",
                    refused,
                    self.journal,
                )
        return [
            Accepted.SPOOLED if item.spool and self.journal is not None else refused
            for item, _ in batch
        ]

    # -- the journal -------------------------------------------------------------------------

    def _journal_has_items(self) -> bool:
        try:
            return self.journal is not None and self.journal.stat().st_size > 0
        except FileNotFoundError:
            return False

    async def _append_journal(self, items: list[InboxItem]) -> None:
        lines = "".join(
            json.dumps(
                {
                    "key": i.key,
                    "platform": i.platform,
                    "kind": i.kind,
                    "payload": i.payload,
                    "received_at": i.received_at.isoformat(),
                }
            )
            + "\n"
            for i in items
        ).encode("utf-8")
        assert self.journal is not None
        path = self.journal

        def append() -> None:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, lines)
                os.fsync(fd)
            finally:
                os.close(fd)

        async with self._journal_lock:
            await asyncio.to_thread(append)

    async def replay_journal(self) -> int:
        """Copy the journal into the inbox (in order) and hand the new items to their
        handlers; how many were new. Raises StoreUnavailable while the database is away."""
        if self.journal is None:
            return 0
        async with self._journal_lock:
            try:
                raw = await asyncio.to_thread(self.journal.read_bytes)
            except FileNotFoundError:
                return 0
            items = []
            for line in raw.decode("utf-8").splitlines():
                with contextlib.suppress(ValueError, KeyError):
                    data = json.loads(line)
                    items.append(
                        InboxItem(
                            data["key"],
                            data["platform"],
                            data["kind"],
                            data["payload"],
                            datetime.fromisoformat(data["received_at"]),
                        )
                    )
            new: set[str] = set()
            if items:
                rows = [_row(i) for i in items]
                async with session.begin(self.engine) as conn:
                    new = set((await conn.execute(self._insert, rows)).scalars())
            # In the inbox now: the journal's copy can go.
            await asyncio.to_thread(self.journal.unlink, missing_ok=True)
        fresh = [i for i in items if i.key in new]
        self._outage = False
        if fresh:
            log.warning("inbox: %d spooled events recorded after the outage", len(fresh))
        for item in fresh:
            await self._dispatch(item)
        return len(fresh)

    # -- replaying -----------------------------------------------------------------------------

    async def replay_pending(self, older_than: timedelta | None = None) -> int:
        """Hand items never handled (a crash) to their handlers again, oldest first."""
        query = select(INBOX).where(INBOX.c.state == "pending").order_by(INBOX.c.id).limit(10_000)
        if older_than is not None:
            query = query.where(INBOX.c.received_at < self.clock.now() - older_than)
        async with session.connect(self.engine) as conn:
            rows = (await conn.execute(query)).all()
        count = 0
        for row in rows:
            if row.platform in self.handlers:
                await self._dispatch(
                    InboxItem(row.key, row.platform, row.kind, row.payload, row.received_at)
                )
                count += 1
        return count

    async def _dispatch(self, item: InboxItem) -> None:
        handler = self.handlers.get(item.platform)
        if handler is None:
            return  # a platform this process does not serve: its own process handles it
        try:
            await handler(item)
        except Exception:
            log.exception("inbox: handling %s failed; it stays pending", item.key)

    async def run_background(self, interval: float = 5.0) -> None:
        """Replay the journal once the database is back, and items a crash left behind."""
        while True:
            await asyncio.sleep(interval)
            try:
                if self._journal_has_items():
                    await self.replay_journal()
                await self.replay_pending(older_than=REPLAY_AFTER)
            except Exception as error:
                log.info("inbox: replay postponed: %s", error)

    async def close(self) -> None:
        if self._writer is not None:
            # What is queued is either written or spooled before we go.
            if not self._writer.done():
                await self._idle.wait()
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
