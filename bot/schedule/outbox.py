"""Delivers outbox rows: perform each effect on its platform, finish it fenced by its claim.

Rows come two ways. Rows written by a transaction of this process were claimed as they were
written and are handed over (`take`) the moment it commits: delivered at once, with nothing
read back. Rows of other replicas that died, retries coming due and rows written outside a
transaction are claimed by the polling loop (`SqlOutbox.claim`). Either way a batch goes
through one scheduler: a row waits for the previous row of its lane that this process is
delivering and for the rows whose results it names, and everything else goes at once, so
a declaration's set-up is a chain of three calls (create the channel; the summary, invite,
topic and announcement; the pin and the checklist).

The lease is renewed while a batch is worked on (on a timer, and before every wait an adapter
announces through bot/core/lease.py), so a slow platform does not hand the row to a second
replica. A failed attempt is retried with exponential backoff; after `max_attempts` the row is
marked failed, logged once, and shown by `/incident show`. Nothing here blocks start-up or
other incidents.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.core import lease, wire
from bot.core.ports import Channel, ChannelNameTaken, Chat, Clock, Settle, UploadNotAllowed
from bot.core.postmortem.split import split_message
from bot.schedule.ticker import replica_name
from bot.store.outbox import (
    DONE,
    FAILED,
    REACT,
    TOKEN,
    WHAT,
    Claimed,
    SqlOutbox,
    references,
)
from bot.store.session import Committing
from bot.store.sql import SqlStore

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
MAX_ATTEMPTS = 6
BACKOFF_BASE = 2.0  # seconds, doubled per failed attempt
MAX_BACKOFF = 300.0
POLL_SECONDS = 1.0  # rows another replica left (or retries coming due) are found this often
CHANNEL_RECORD_SECONDS = 0.25  # a new channel waits this long at most for its batch
# A batch's playbook reactions start once its chat calls are answered, or after this long:
# they are database work on this loop, which would hold up the calls' sending.
REACT_AFTER_SECONDS = 0.1
# A call waits for the one started before it to have its request on the wire (see
# bot/core/wire.py), but never longer than this (a connection still being opened).
WIRE_SECONDS = 0.005
# Effects whose delivery reads the incident from the database (`OutboxWorker._deliver`).
_READS_AT_DELIVERY = frozenset({"update_checklist", "send_page"})
MAX_NAME_ATTEMPTS = 20
NAME_LIMIT = 80
# A row's fate in this process, besides Settle.DELIVERED, Settle.RETRYING and FAILED: given
# back unattempted (it waits for a row this process does not hold), or taken by another.
HELD, LOST = "held", "lost"


class Undeliverable(Exception):
    """This row can never be delivered (what it refers to failed for good)."""


class _TakenOver(Exception):
    """A reaction's row was no longer this claim's when it was about to commit."""


# (incident number, event as `engine.event_data` wrote it) -> None: the playbook's reaction,
# run in the caller's transaction (PlaybookRunner.react).
Reactor = Callable[[int, dict[str, Any]], Awaitable[None]]


@dataclass
class _Planned:
    row: Claimed
    waits: list[asyncio.Future[str]]  # rows this one goes after (its lane, what it names)
    held: bool  # waits for a row this process is not delivering: give it back
    done: asyncio.Future[str]


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
        self.record_channel_after = CHANNEL_RECORD_SECONDS
        self._wake = asyncio.Event()
        self._watchers: set[asyncio.Future[None]] = set()  # replies waiting for outcomes
        # Outcomes of rows this process worked on, for commands waiting on their effects.
        self._outcomes: OrderedDict[int, str] = OrderedDict()
        # What rows this process delivered returned (ids of channels and messages), with
        # their platform: later rows and replies use them without reading them back.
        self._results: OrderedDict[int, tuple[dict[str, Any] | None, str]] = OrderedDict()
        # Rows being delivered here: id -> its outcome-to-be; lane -> its latest row's.
        self._inflight: dict[int, asyncio.Future[str]] = {}
        self._tails: dict[str, asyncio.Future[str]] = {}
        self._batches: set[asyncio.Task[int]] = set()
        self._task: asyncio.Task[None] | None = None
        self._busy = asyncio.Lock()  # one claiming loop at a time
        self._inline: asyncio.Future[int] | None = None
        self._wire: asyncio.Future[None] | None = None  # the latest call's "it went out"
        self.reactor: Reactor | None = None  # set where playbooks are loaded

    # -- running ---------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def kick(self) -> None:
        """Rows were just committed (the ticker's): those written in its transaction are
        already on their way; not started (tests, one-off commands), deliver here and now."""
        if self._task is None:
            await self.deliver_due()

    def take(self, rows: Sequence[Claimed], committing: Committing | None = None) -> None:
        """Deliver rows claimed by this process (as they were written, or by `claim`), in a
        task of their own; called as their transaction commits (`committing`: nothing
        reaches a platform before its outcome says it committed), or after."""
        if not rows:
            return
        plan = self._plan(rows)  # at once, so that rows handed over next go after these
        batch = _Batch(self, plan, committing)  # its first call starts now: see _Batch
        task = asyncio.get_running_loop().create_task(batch.run())
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)
        task.add_done_callback(batch.ended)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                await self._claim_due()
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
        for batch in list(self._batches):  # their rows' leases run out; any replica resumes
            batch.cancel()
        await asyncio.gather(*self._batches, return_exceptions=True)

    async def deliver_due(self) -> int:
        """Deliver everything due, and wait for what this process is delivering (tests,
        shutdown, one-off commands); how many rows were delivered."""
        delivered = 0
        while True:
            await self._claim_due()
            if not self._batches:
                return delivered
            outcomes = await asyncio.gather(*self._batches, return_exceptions=True)
            delivered += sum(n for n in outcomes if isinstance(n, int))

    async def _claim_due(self) -> None:
        """Claim what is due, batch after batch, and start delivering each."""
        async with self._busy:
            while True:
                claimed = await self.outbox.claim(
                    self.name, self.clock.now(), limit=self.batch, lease_seconds=self.lease_seconds
                )
                if not claimed:
                    return
                self.take(claimed)

    # -- one batch -------------------------------------------------------------------------

    def _plan(self, rows: Sequence[Claimed]) -> list[_Planned]:
        """What each row goes after, decided before anything else runs. A row written here
        whose lane has an earlier row under another claim, or that names a row this process
        knows nothing of, is given back to the claiming loop (which holds it until those are
        done) rather than guessed about."""
        loop = asyncio.get_running_loop()
        plan = []
        for row in sorted(rows, key=lambda r: r.id):
            waits, held = [], False
            tail = self._tails.get(row.lane)
            if tail is not None:
                waits.append(tail)
            if row.fresh and row.blocker is not None and row.blocker not in self._inflight:
                held = self._outcomes.get(row.blocker) not in (Settle.DELIVERED, FAILED)
            for ref in row.refs if row.fresh else references(row.args):
                if ref in self._inflight:
                    waits.append(self._inflight[ref])
                elif row.fresh and self._outcomes.get(ref) != Settle.DELIVERED:
                    held = True
            done: asyncio.Future[str] = loop.create_future()
            self._inflight[row.id] = self._tails[row.lane] = done
            plan.append(_Planned(row, waits, held, done))
        return plan

    def signals_sent(self, platform: str) -> bool:
        return bool(getattr(self.chats.get(platform), "signals_sent", False))

    @contextlib.asynccontextmanager
    async def _one_on_the_wire(
        self, platform: str, hold: asyncio.Future[bool] | None = None
    ) -> AsyncIterator[None]:
        """Build a call once the call started before it has gone out (bot/core/wire.py), on
        a platform that says when: a status post's bytes then leave before its announcement
        is built, and a declaration's summary before its invite, topic and announcement.
        `hold`: the outcome of the transaction that wrote the call's row, still committing;
        its bytes wait for it, and never go if it rolls back."""
        if not self.signals_sent(platform):
            assert hold is None, "a call is built early only where its sending can be held"
            yield
            return
        loop = asyncio.get_running_loop()
        before, mine = self._wire, loop.create_future()
        self._wire = mine
        if before is not None and not before.done():
            await before  # its send, its end or its timer sets it: never held for long

        def went_out() -> None:
            if not mine.done():
                mine.set_result(None)

        async def going_out() -> None:
            if hold is not None and not await hold:  # (a session.Outcome: never cancelled)
                raise wire.NotCommitted
            went_out()

        timer = loop.call_later(WIRE_SECONDS, went_out)
        token = wire.on_sending.set(going_out)
        try:
            yield
        finally:
            wire.on_sending.reset(token)
            timer.cancel()
            went_out()
            if self._wire is mine:
                self._wire = None

    def _settled(self, step: _Planned, outcome: str) -> None:
        """A row's outcome, for the rows after it and the replies waiting on it."""
        if step.done.done():
            return
        step.done.set_result(outcome)
        row = step.row
        if self._inflight.get(row.id) is step.done:
            del self._inflight[row.id]
        if self._tails.get(row.lane) is step.done:
            del self._tails[row.lane]
        if outcome in (Settle.DELIVERED, Settle.RETRYING, FAILED):
            self._outcomes[row.id] = outcome
            while len(self._outcomes) > 10_000:
                self._outcomes.popitem(last=False)
            for watcher in self._watchers:
                _wake(watcher)
        elif outcome == HELD:
            self.wake()

    def _remember(self, row: Claimed, result: dict[str, Any] | None) -> None:
        self._results[row.id] = (result, row.platform)
        while len(self._results) > 10_000:
            self._results.popitem(last=False)

    async def _finish(self, delivered: list[tuple[Claimed, dict[str, Any] | None]]) -> int:
        """One transaction for what was delivered (each fenced by its claim)."""
        if not delivered:
            return 0
        outcomes = await self.outbox.finish_many(delivered, self.clock.now())
        count = 0
        for (row, _), ok in zip(delivered, outcomes, strict=True):
            if ok:
                count += 1
            else:
                log.warning("outbox: row %d was taken over by another worker", row.id)
        return count

    async def _failed_attempt(self, row: Claimed, error: Exception) -> str:
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
            return FAILED
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
        return Settle.RETRYING

    # -- what a command's reply waits for ----------------------------------------------------

    async def settle(self, effects: Sequence[int], timeout: float) -> str:  # noqa: ASYNC109
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

        # A bare future per wait, set by `_settled`: the reply wakes on the next turn of the
        # loop (wait_for on an Event would take a task of its own and turns more).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (seen := outcome()) is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return Settle.PENDING
            waiter: asyncio.Future[None] = loop.create_future()
            self._watchers.add(waiter)
            timer = loop.call_later(remaining, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._watchers.discard(waiter)
        return seen

    async def resolve(self, text: str) -> str:
        ids = [int(m.group(2)) for m in TOKEN.finditer(text)]
        if not ids:
            return text
        known = await self._known(ids)

        def swap(match: Any) -> str:
            state, result, platform = known.get(int(match.group(2)), (None, None, ""))
            chat = self.chats.get(platform)
            if match.group(1) == "link":
                if state == DONE and result and chat is not None:
                    return chat.channel_link(Channel(result["id"], result["name"]))
                return f"#{match.group(3)}"  # not created yet: its name is what people can use
            return str(result["id"]) if state == DONE and result else match.group(0)

        return TOKEN.sub(swap, text)

    async def _known(self, ids: Sequence[int]) -> dict[int, tuple[str, Any, str]]:
        """id -> (state, result, platform): what this process delivered, else the database."""
        local = {i: (DONE, *self._results[i]) for i in ids if i in self._results}
        missing = [i for i in ids if i not in local]
        return {**(await self.outbox.results(missing) if missing else {}), **local}

    async def _resolved(self, row: Claimed) -> dict[str, Any]:
        ids = [int(m.group(2)) for m in TOKEN.finditer(str(row.args))]
        if not ids:
            return row.args
        known = await self._known(ids)
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
                return {"id": await _post_keyed(chat, a["channel_id"], a["text"], row.key, row)}
            case "update":
                moved = await chat.update(a["channel_id"], a["message_id"], a["text"])
                return _moved(a["message_id"], moved)
            case "pin":
                await chat.pin(a["channel_id"], a["message_id"])
            case "post_checklist":
                incident, tasks = row.snapshot or await self._incident(a["incident"])
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
                    await self._post_text(chat, row, a["channel_id"], content.decode("utf-8"))
            case _:
                raise Undeliverable(f"unknown effect {row.kind!r}")
        return None

    async def _react(self, row: Claimed) -> None:
        """The playbook's reaction and the row's finishing, in one transaction: run once, by
        whichever worker holds the claim when it commits (what it posts or schedules are
        rows and reminders of that transaction)."""
        if self.reactor is None:
            raise Undeliverable("this process runs no playbooks")
        async with self.store.transaction():
            await self.reactor(int(row.args["incident"]), dict(row.args["event"]))
            if not await self.outbox.finish_here(row, self.clock.now()):
                raise _TakenOver  # rolls the reaction back: its new holder runs it

    async def _post_text(self, chat: Chat, row: Claimed, channel_id: str, text: str) -> None:
        """A refused upload's text as posts, each idempotent as a post row is: piece `i`
        carries the key `<row key>/i`, so a retry after an answer that got lost (or a later
        attempt of the row) finds the pieces already posted instead of posting them again."""
        for index, piece in enumerate(split_message(text)):
            await _post_keyed(chat, channel_id, piece, f"{row.key}/{index}", row)

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


class _Batch:
    """Rows under one claim, delivered together. Its calls' tasks start as it is made, in
    the turn of the loop that committed the rows: a task that then started them would add a
    turn before the first request (a status post's). `run` waits for them, then records in
    one transaction what was delivered."""

    def __init__(
        self,
        worker: OutboxWorker,
        plan: list[_Planned],
        committing: Committing | None = None,
    ) -> None:
        self.w, self.plan = worker, plan
        # The rows' transaction's outcome (None: it committed), and, while it commits, the
        # outcome the first call's bytes wait for (`_one_on_the_wire`).
        self.committed = committing.outcome if committing is not None else None
        still = self.committed is not None and not self.committed.done()
        self.hold = self.committed if still else None
        self.under_way = committing.under_way if self.hold is not None else None
        now = worker.clock.now()
        self.until = min(p.row.lease_until or now for p in plan)
        self.owned = {p.row.id for p in plan}
        self.token = plan[0].row.token
        self.delivered: list[tuple[Claimed, dict[str, Any] | None]] = []
        self.reacted: list[Claimed] = []
        self.finishing: list[asyncio.Task[int]] = []
        # A channel is recorded with the rest of its batch, in the same transaction, unless
        # the rest takes longer than `record_channel_after` (a platform asking us to wait):
        # then on its own, because others (a replica, a command typed in the new channel)
        # look the channel up by its id. Recording it at once, beside the calls that follow
        # it, cost the declaration a second transaction on its critical path.
        self.unrecorded: dict[
            int, tuple[asyncio.TimerHandle, tuple[Claimed, dict[str, Any] | None]]
        ] = {}
        # Each task a context of its own (each sets its own wire.on_sending), all holding the
        # lease over an adapter's announced waits.
        self.context = contextvars.copy_context()
        self.context.run(lease.keepalive.set, self.extend)
        self.ordered = _heads_of_chains_first(plan)
        self.calls: list[asyncio.Task[None]] = []
        self.reactions: list[asyncio.Task[None]] = []
        self.renewer: asyncio.Task[None] | None = None
        # The first call now; the others from `run`, so that they are queued behind the
        # task in which aiohttp writes the first one's body (queued as that call is built).
        # While the rows' transaction commits (an fsync, a round trip), only a call that
        # waits for nothing, on a platform that can hold its bytes until the commit has
        # returned (`_one_on_the_wire`): it is built meanwhile, and sent the moment it may.
        self.built_early: _Planned | None = None
        if self.ordered and self._may_start_early(self.ordered[0]):
            self.built_early = self.ordered[0]
            self._start(self.ordered[:1])
        if self.hold is not None:
            self.hold.add_done_callback(self._outcome)

    def _may_start_early(self, step: _Planned) -> bool:
        row = step.row
        if row.kind == REACT:
            return False
        if self.hold is None:
            return True
        # Built beside the commit, it must not read what the commit is writing (a checklist
        # drawn from the tasks would show them as they were before this transaction).
        reads = row.kind in _READS_AT_DELIVERY or (
            row.kind == "post_checklist" and row.snapshot is None
        )
        return not reads and not step.waits and not step.held and self.w.signals_sent(row.platform)

    def _outcome(self, committed: asyncio.Future[bool]) -> None:
        # Rolled back: the rows never were. Cancel the call built meanwhile before anything
        # wakes (its bytes are held, and `going_out` refuses them too).
        if committed.cancelled() or not committed.result():
            for task in self.calls:
                task.cancel()

    def _start(self, steps: Sequence[_Planned]) -> None:
        loop = asyncio.get_running_loop()
        for step in steps:
            if step.row.kind == REACT:
                self.reactions.append(
                    loop.create_task(self.react(step), context=self.context.copy())
                )
            else:
                self.calls.append(loop.create_task(self.one(step), context=self.context.copy()))

    async def extend(self, seconds: float) -> None:
        w = self.w
        until = w.clock.now() + timedelta(seconds=seconds + w.lease_seconds)
        self.owned = await w.outbox.renew(self.token, until)
        self.until = until

    async def renew_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.w.lease_seconds / 3)
            await self.extend(0)

    async def still_mine(self, row: Claimed) -> bool:
        # Before each delivery: a lease about to run out is renewed first, and a row whose
        # lease ran out and was taken by another worker is left to it.
        margin = timedelta(seconds=self.w.lease_seconds / 3)
        if self.w.clock.now() + margin >= self.until:
            await self.extend(0)
        return row.id in self.owned

    async def one(self, step: _Planned) -> None:
        w, row, outcome = self.w, step.row, LOST
        try:
            before = [await wait for wait in step.waits]
            if step.held or any(o != Settle.DELIVERED for o in before):
                # Order per lane: it goes once what it waits for is done (or failed).
                await w.outbox.release(row)
                outcome = HELD
                return
            if not await self.still_mine(row):
                log.warning("outbox: lost the lease of row %d; leaving it", row.id)
                return
            try:
                if row.kind == REACT:
                    await w._react(row)  # finished in its own transaction
                    outcome = Settle.DELIVERED
                    self.reacted.append(row)
                    return
                hold = self.hold if step is self.built_early else None
                if hold is not None and self.under_way is not None:
                    await asyncio.shield(self.under_way)  # built beside the commit, not before
                async with w._one_on_the_wire(row.platform, hold):
                    result = await w._deliver(row)
            except wire.NotCommitted:
                return  # its transaction rolled back: the row never was
            except _TakenOver:
                log.warning("outbox: row %d was taken over by another worker", row.id)
                return
            except Exception as error:
                outcome = await w._failed_attempt(row, error)
                return
            w._remember(row, result)
            outcome = Settle.DELIVERED
            if row.kind == "create_channel":
                self.record_soon(row, result)
            else:
                self.delivered.append((row, result))
        finally:
            w._settled(step, outcome)

    async def react(self, step: _Planned) -> None:
        if self.calls:
            await asyncio.wait(self.calls, timeout=REACT_AFTER_SECONDS)
        await self.one(step)

    def record_now(self, row_id: int) -> None:
        _, item = self.unrecorded.pop(row_id)
        self.finishing.append(asyncio.create_task(self.w._finish([item])))

    def record_soon(self, row: Claimed, result: dict[str, Any] | None) -> None:
        loop = asyncio.get_running_loop()
        handle = loop.call_later(self.w.record_channel_after, self.record_now, row.id)
        self.unrecorded[row.id] = (handle, (row, result))

    async def run(self) -> int:
        w = self.w
        try:
            if self.committed is not None and not await asyncio.shield(self.committed):
                return 0  # rolled back (its early call is cancelled: `_outcome`)
            self._start(self.ordered[len(self.calls) :])
            self.renewer = asyncio.create_task(self.renew_periodically())
            await asyncio.gather(*self.calls, *self.reactions)
            for handle, item in self.unrecorded.values():  # first: the rest were made in it
                handle.cancel()
                self.delivered.insert(0, item)
            self.unrecorded.clear()
            # The replies waiting for these outcomes go first: on SQLite the transaction below
            # runs on the loop and would hold them until it has committed.
            await asyncio.sleep(0)
            # One transaction records the rest, after the channels recorded on their own.
            count = sum(await asyncio.gather(*self.finishing)) + len(self.reacted)
            count += await w._finish(self.delivered)
            if count and not self.plan[0].row.fresh:
                # Rows behind these in their lanes may go now: the claim takes a lane's rows
                # only while none before them is under a live lease, heads of lanes first.
                # (Not after rows claimed as written: a claim per declaration would cost more
                # than the next poll; rows written unclaimed behind them wait for it.)
                w.wake()
            return count
        finally:
            if self.unrecorded:
                # Cancelled (a shutdown past its grace) with channels made and not recorded:
                # record them still, or a replica taking the rows over would make another.
                for handle, _ in self.unrecorded.values():
                    handle.cancel()
                items = [item for _, item in self.unrecorded.values()]
                self.unrecorded.clear()
                with contextlib.suppress(Exception):
                    await w._finish(items)

    def ended(self, _task: asyncio.Task[int]) -> None:
        """However `run` ended (even cancelled before it began): no call of it goes on, and
        every row has an outcome, so nothing behind them waits for ever."""
        if self.renewer is not None:
            self.renewer.cancel()
        for task in (*self.calls, *self.reactions):
            task.cancel()
        for step in self.plan:
            self.w._settled(step, LOST)


async def _post_keyed(chat: Chat, channel_id: str, text: str, key: str, row: Claimed) -> str:
    """Post once under `key` where the platform can look for an earlier try (post_once: after
    the row's first attempt it looks before posting); plainly where it cannot."""
    once = getattr(chat, "post_once", None)
    if once is None:
        return await chat.post(channel_id, text)
    return str(await once(channel_id, text, key=key, look_first=row.attempts > 1))


def _heads_of_chains_first(plan: list[_Planned]) -> list[_Planned]:
    """The plan in the order its rows should start when they become ready together: the
    longest chain of rows waiting behind a row first. Rows woken by one outcome run in the
    order they began waiting, and each sends its call before the next is built (about 1 ms
    each), so a declaration's summary post, which its pin waits for, goes before the invite,
    topic and announcement rather than after them (4-5 ms off the critical path)."""
    behind: dict[int, list[int]] = {i: [] for i in range(len(plan))}
    index = {id(step.done): i for i, step in enumerate(plan)}
    for i, step in enumerate(plan):
        for wait in step.waits:
            if id(wait) in index:
                behind[index[id(wait)]].append(i)
    depth: dict[int, int] = {}
    for i in reversed(range(len(plan))):  # a row waits only for rows planned before it
        depth[i] = 1 + max((depth[j] for j in behind[i]), default=0)
    order = sorted(range(len(plan)), key=lambda i: (-depth[i], i))
    return [plan[i] for i in order]


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


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
