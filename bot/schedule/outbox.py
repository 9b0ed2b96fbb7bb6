"""Delivers outbox rows: claim a batch, perform each effect on its platform, finish it fenced.

Lanes (channels) of a batch are delivered concurrently, each in order. The lease is renewed
while a batch is worked on (on a timer, and before every wait an adapter announces through
bot/core/lease.py), so a slow platform does not hand the row to a second replica. A failed
attempt is retried with exponential backoff; after `max_attempts` the row is marked failed,
logged once, and shown by `/incident show`. Nothing here blocks start-up or other incidents.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core import lease
from bot.core.ports import Channel, ChannelNameTaken, Chat, Clock, Settle, UploadNotAllowed
from bot.core.postmortem.split import split_message
from bot.schedule.ticker import replica_name
from bot.store.outbox import DONE, FAILED, TOKEN, WHAT, Claimed, SqlOutbox
from bot.store.sql import SqlStore

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
MAX_ATTEMPTS = 6
BACKOFF_BASE = 2.0  # seconds, doubled per failed attempt
MAX_BACKOFF = 300.0
POLL_SECONDS = 1.0  # rows another replica wrote (or retries coming due) are found this often
MAX_NAME_ATTEMPTS = 20
NAME_LIMIT = 80


class Undeliverable(Exception):
    """This row can never be delivered (what it refers to failed for good)."""


@dataclass
class _Lease:
    until: datetime
    owned: set[int]


def backoff(attempts: int) -> float:
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


class OutboxWorker:
    def __init__(
        self,
        outbox: SqlOutbox,
        store: SqlStore,
        chats: Mapping[str, Chat],
        clock: Clock,
        *,
        name: str | None = None,
        batch: int = 100,
        lease_seconds: float = LEASE_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.outbox = outbox
        self.store = store
        self.chats = chats
        self.clock = clock
        self.name = name or replica_name()
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        # Outcomes of rows this process worked on, for commands waiting on their effects.
        self._outcomes: OrderedDict[int, str] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._busy = asyncio.Lock()
        self._inline: asyncio.Future[int] | None = None
        # Claim tokens of rows this process wrote (claimed in their own transaction), with
        # when they were handed out; delivered once their transaction has committed.
        self._own: dict[str, float] = {}
        self._results: OrderedDict[int, dict[str, Any] | None] = OrderedDict()
        self.delivered = 0

    # -- running ---------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def kick(self) -> None:
        """Rows were just committed: wake the worker, or (not started: tests, one-off
        commands) deliver them here and now."""
        if self._task is not None:
            self.wake()
        else:
            await self.deliver_due()

    def claimant(self) -> tuple[str, str, float]:
        """A claim for rows being written now (OutboxChat): this worker delivers them as soon
        as their transaction commits, without claiming them again."""
        token = uuid.uuid4().hex
        self._own[token] = time.monotonic()
        return self.name, token, self.lease_seconds

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                await self.deliver_due()
            except Exception:
                # The database may be away; rows wait in the outbox until it is back.
                log.warning("outbox: delivering failed, trying again shortly", exc_info=True)

    async def stop(self, grace: float = 0.0) -> None:
        """Stop; with `grace`, first deliver what is due for up to that many seconds."""
        if grace > 0:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.deliver_due(), grace)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def deliver_due(self) -> int:
        """Claim and deliver batches until nothing is due; how many rows were delivered."""
        async with self._busy:
            delivered = await self._deliver_own()
            while True:
                claimed = await self.outbox.claim(
                    self.name, self.clock.now(), limit=self.batch, lease_seconds=self.lease_seconds
                )
                if not claimed:
                    return delivered
                delivered += await self._deliver_batch(claimed)

    async def _deliver_own(self) -> int:
        delivered = 0
        now = time.monotonic()
        for token, since in list(self._own.items()):
            rows = await self.outbox.claimed(token, self.clock.now())
            if rows:
                del self._own[token]
                delivered += await self._deliver_batch(rows)
            elif now - since > self.lease_seconds:
                del self._own[token]  # rolled back, or delivered by another after the lease
        return delivered

    async def _deliver_batch(self, claimed: list[Claimed]) -> int:
        token = claimed[0].token
        lanes: dict[str, list[Claimed]] = {}
        for row in claimed:
            lanes.setdefault(row.lane, []).append(row)
        held = _Lease(
            self.clock.now() + timedelta(seconds=self.lease_seconds), {r.id for r in claimed}
        )

        async def extend(seconds: float) -> None:
            until = self.clock.now() + timedelta(seconds=seconds + self.lease_seconds)
            held.owned = await self.outbox.renew(token, until)
            held.until = until

        async def renew_periodically() -> None:
            while True:
                await asyncio.sleep(self.lease_seconds / 3)
                await extend(0)

        async def still_mine(row: Claimed) -> bool:
            # Before each delivery: a lease about to run out is renewed first, and a row
            # whose lease ran out and was taken by another worker is left to it.
            margin = timedelta(seconds=self.lease_seconds / 3)
            if self.clock.now() + margin >= held.until:
                await extend(0)
            return row.id in held.owned

        renewer = asyncio.create_task(renew_periodically())
        reset = lease.keepalive.set(extend)
        # A row that needs another row of this batch (a link to the channel it creates)
        # waits for it, even in another lane.
        finished = {row.id: asyncio.Event() for row in claimed}
        try:
            counts = await asyncio.gather(
                *(self._deliver_lane(rows, finished, still_mine) for rows in lanes.values())
            )
        finally:
            lease.keepalive.reset(reset)
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        return sum(counts)

    async def _deliver_lane(
        self,
        rows: list[Claimed],
        finished: dict[int, asyncio.Event],
        still_mine: Callable[[Claimed], Awaitable[bool]],
    ) -> int:
        delivered: list[tuple[Claimed, dict[str, Any] | None]] = []
        try:
            for position, row in enumerate(rows):
                if row.after in finished:
                    await finished[row.after].wait()
                if not await still_mine(row):
                    log.warning("outbox: lost the lease of row %d; leaving it", row.id)
                    return await self._finish(delivered)
                try:
                    result = await self._deliver(row)
                except Exception as error:
                    await self._failed_attempt(row, error)
                    # Later rows of the lane wait for this one (order per channel).
                    for later in rows[position + 1 :]:
                        await self.outbox.release(later)
                        finished[later.id].set()
                    finished[row.id].set()
                    return await self._finish(delivered)
                self._results[row.id] = result
                while len(self._results) > 10_000:
                    self._results.popitem(last=False)
                delivered.append((row, result))
                if row.kind == "create_channel":
                    # Others wait for the channel (its id, and messages arriving in it).
                    await self._finish(delivered)
                    delivered = []
                finished[row.id].set()
            return await self._finish(delivered)
        finally:
            for row in rows:
                finished[row.id].set()

    async def _finish(self, delivered: list[tuple[Claimed, dict[str, Any] | None]]) -> int:
        """One transaction for what a lane delivered (each fenced by its claim)."""
        if not delivered:
            return 0
        outcomes = await self.outbox.finish_many(delivered, self.clock.now())
        count = 0
        for (row, _), ok in zip(delivered, outcomes, strict=True):
            if ok:
                count += 1
                self.delivered += 1
                await self._outcome(row.id, Settle.DELIVERED)
            else:
                log.warning("outbox: row %d was taken over by another worker", row.id)
        return count

    async def _failed_attempt(self, row: Claimed, error: Exception) -> None:
        reason = _reason(error)
        now = self.clock.now()
        if isinstance(error, Undeliverable) or row.attempts >= self.max_attempts:
            if await self.outbox.fail(row, reason, now):
                log.error(
                    "outbox: %s on %s failed for good after %d attempts: %s",
                    WHAT.get(row.kind, row.kind),
                    row.platform,
                    row.attempts,
                    reason,
                )
            await self._outcome(row.id, FAILED)
            return
        delay = backoff(row.attempts)
        log.warning(
            "outbox: %s failed (attempt %d of %d): %s; retrying in %.0fs",
            WHAT.get(row.kind, row.kind),
            row.attempts,
            self.max_attempts,
            reason,
            delay,
        )
        await self.outbox.retry(row, reason, now + timedelta(seconds=delay))
        await self._outcome(row.id, Settle.RETRYING)

    async def _outcome(self, row_id: int, outcome: str) -> None:
        self._outcomes[row_id] = outcome
        while len(self._outcomes) > 10_000:
            self._outcomes.popitem(last=False)
        async with self._changed:
            self._changed.notify_all()

    # -- what a command's reply waits for ----------------------------------------------------

    async def settle(self, effects: Sequence[int], timeout: float) -> str:  # noqa: ASYNC109
        self.wake()
        if self._task is None and (self._inline is None or self._inline.done()):
            # Not started (tests, one-off commands): deliver here rather than wait for nobody.
            # Not cancelled at the timeout: a delivery cut off mid-way would hold its lease.
            self._inline = asyncio.ensure_future(self.deliver_due())
            await asyncio.wait({self._inline}, timeout=timeout)

        def outcome() -> str | None:
            seen = [self._outcomes.get(i) for i in effects]
            if any(o in (Settle.RETRYING, FAILED) for o in seen):
                return Settle.RETRYING
            if all(o == Settle.DELIVERED for o in seen):
                return Settle.DELIVERED
            return None

        try:
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: outcome() is not None), timeout
                )
        except TimeoutError:
            return Settle.PENDING
        return outcome() or Settle.PENDING

    async def resolve(self, text: str) -> str:
        ids = [int(m.group(2)) for m in TOKEN.finditer(text)]
        if not ids:
            return text
        known = await self.outbox.results(ids)

        def swap(match: Any) -> str:
            state, result, platform = known.get(int(match.group(2)), (None, None, ""))
            chat = self.chats.get(platform)
            if match.group(1) == "link":
                if state == DONE and result and chat is not None:
                    return chat.channel_link(Channel(result["id"], result["name"]))
                return f"#{match.group(3)}"  # not created yet: its name is what people can use
            return str(result["id"]) if state == DONE and result else match.group(0)

        return TOKEN.sub(swap, text)

    # -- performing one effect ----------------------------------------------------------------

    async def _resolved(self, row: Claimed) -> dict[str, Any]:
        ids = [int(m.group(2)) for m in TOKEN.finditer(str(row.args))]
        if not ids:
            return row.args
        local = {i: (DONE, self._results[i], row.platform) for i in ids if self._results.get(i)}
        missing = [i for i in ids if i not in local]
        known = {**(await self.outbox.results(missing) if missing else {}), **local}
        chat = self.chats[row.platform]

        def swap(match: Any) -> str:
            state, result, _ = known.get(int(match.group(2)), (None, None, ""))
            if state != DONE or not result:
                what = "the channel" if match.group(1) == "link" else "what it refers to"
                raise Undeliverable(f"{what} was never created (an earlier effect failed)")
            if match.group(1) == "link":
                return chat.channel_link(Channel(result["id"], result["name"]))
            return str(result["id"])

        def walk(value: Any) -> Any:
            if isinstance(value, str):
                return TOKEN.sub(swap, value)
            if isinstance(value, list):
                return [walk(v) for v in value]
            if isinstance(value, dict):
                return {k: walk(v) for k, v in value.items()}
            return value

        return walk(row.args)

    async def _deliver(self, row: Claimed) -> dict[str, Any] | None:
        chat = self.chats.get(row.platform)
        if chat is None:
            raise Undeliverable(f"{row.platform} is not configured in this process")
        a = await self._resolved(row)
        match row.kind:
            case "create_channel":
                channel = await self._create_channel(chat, a["name"], bool(a["private"]))
                return {"id": channel.id, "name": channel.name}
            case "invite":
                await chat.invite(Channel(**a["channel"]), a["users"])
            case "set_topic":
                await chat.set_topic(Channel(**a["channel"]), a["topic"])
            case "post":
                once = getattr(chat, "post_once", None)
                if once is not None:
                    ts = await once(
                        a["channel_id"], a["text"], key=row.key, look_first=row.attempts > 1
                    )
                else:
                    ts = await chat.post(a["channel_id"], a["text"])
                return {"id": ts}
            case "update":
                moved = await chat.update(a["channel_id"], a["message_id"], a["text"])
                return _moved(a["message_id"], moved)
            case "pin":
                await chat.pin(a["channel_id"], a["message_id"])
            case "post_checklist":
                incident, tasks = await self._incident(a["incident"])
                return {"id": await chat.post_checklist(a["channel_id"], incident, tasks)}
            case "update_checklist":
                incident, tasks = await self._incident(a["incident"])
                moved = await chat.update_checklist(
                    a["channel_id"], a["message_id"], incident, tasks
                )
                return _moved(a["message_id"], moved)
            case "send_page":
                incident, _ = await self._incident(a["incident"])
                return {"id": await chat.send_page(a["user"], incident, a["text"])}
            case "upload":
                content = base64.b64decode(a["content"])
                try:
                    await chat.upload(a["channel_id"], a["filename"], content, a["title"])
                except UploadNotAllowed:
                    log.info("upload refused on %s; posting the text instead", row.platform)
                    for piece in split_message(content.decode("utf-8")):
                        await chat.post(a["channel_id"], piece)
            case _:
                raise Undeliverable(f"unknown effect {row.kind!r}")
        return None

    async def _incident(self, number: int) -> tuple[Any, Any]:
        incident = await self.store.get_incident(number)
        if incident is None:
            raise Undeliverable(f"INC-{number} no longer exists")
        return incident, await self.store.tasks(number)

    async def _create_channel(self, chat: Chat, name: str, private: bool) -> Channel:
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            suffix = f"-{attempt}" if attempt > 1 else ""
            try:
                return await chat.create_channel(
                    name[: NAME_LIMIT - len(suffix)] + suffix, private=private
                )
            except ChannelNameTaken:
                continue
        raise Undeliverable(f"no free channel name like {name} in {MAX_NAME_ATTEMPTS} tries")


def _moved(old: str, new: object) -> dict[str, Any] | None:
    """An edit the platform refused was posted anew (Mattermost's PostEditTimeLimit): the
    finishing transaction points the incident at the new message."""
    if isinstance(new, str) and new and new != old:
        return {"moved": new, "from": old}
    return None


def _reason(error: Exception) -> str:
    response = getattr(error, "response", None)
    if response is not None and hasattr(response, "get"):
        code = response.get("error")
        if code:
            return str(code)
    return f"{type(error).__name__}: {error}"[:300]
