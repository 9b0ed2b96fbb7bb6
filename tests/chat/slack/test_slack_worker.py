"""The listeners' Worker: work starts at once (a burst is answered while it lasts), one
channel's changes keep their order, reads run together after the changes before them, and
answers never wait behind a channel's work."""

from __future__ import annotations

import asyncio

from bot.chat.slack.worker import ACK_BY, REQUEST_ARRIVED, Worker


class Gate:
    """Work items that say when they start and finish only when let go."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.release = asyncio.Event()
        self._changed = asyncio.Condition()

    async def item(self, name: str, *, hold: bool = True) -> None:
        async with self._changed:
            self.started.append(name)
            self._changed.notify_all()
        if hold:
            await self.release.wait()
        async with self._changed:
            self.finished.append(name)
            self._changed.notify_all()

    async def until_started(self, count: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.started) >= count)

    async def until_finished(self, name: str) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: name in self.finished)


async def test_work_starts_at_once_however_many_requests_come() -> None:
    worker = Worker()
    gate = Gate()
    for n in range(200):  # a burst: nothing holds the first item back until it ends
        worker.submit("channel:C1", gate.item(f"c{n}", hold=False))
    await gate.until_started(1)
    await worker.drain()
    assert gate.finished == [f"c{n}" for n in range(200)]


async def test_one_channel_keeps_the_order_of_its_changes() -> None:
    worker = Worker()
    order: list[int] = []

    async def change(n: int) -> None:
        await asyncio.sleep(0)
        order.append(n)

    for n in range(5):
        worker.submit("channel:C1", change(n))
    await worker.drain()
    assert order == [0, 1, 2, 3, 4]


async def test_reads_run_together_after_the_change_before_them_and_before_the_next() -> None:
    worker = Worker(read_batch=8)
    gate = Gate()
    worker.submit("channel:C1", gate.item("change 1"))
    for n in range(3):
        worker.submit("channel:C1", gate.item(f"read {n}"), read=True)
    worker.submit("channel:C1", gate.item("change 2"))
    await gate.until_started(1)
    for _ in range(20):
        await asyncio.sleep(0)
    assert gate.started == ["change 1"]  # the reads wait for the change typed before them
    gate.release.set()
    await worker.drain()
    assert gate.started[1:4] == ["read 0", "read 1", "read 2"]
    assert gate.finished[-1] == "change 2"


async def test_reads_of_one_channel_overlap() -> None:
    worker = Worker(read_batch=8)
    gate = Gate()
    for n in range(3):
        worker.submit("channel:C1", gate.item(f"read {n}"), read=True)
    await gate.until_started(3)  # all three started before any finished
    assert gate.finished == []
    gate.release.set()
    await worker.drain()


async def test_channels_beyond_the_limit_wait_for_a_free_runner() -> None:
    worker = Worker(limit=2)
    gate = Gate()
    for channel in ("C1", "C2", "C3"):
        worker.submit(f"channel:{channel}", gate.item(channel))
    await gate.until_started(2)
    for _ in range(20):
        await asyncio.sleep(0)
    assert sorted(gate.started) == ["C1", "C2"]
    gate.release.set()
    await worker.drain()
    assert sorted(gate.finished) == ["C1", "C2", "C3"]


async def test_answers_do_not_wait_behind_a_channels_work() -> None:
    worker = Worker()
    gate = Gate()
    worker.submit("channel:C1", gate.item("slow change"))
    worker.submit(None, gate.item("answer", hold=False))
    await gate.until_finished("answer")
    assert gate.finished == ["answer"]
    gate.release.set()
    await worker.drain()


async def test_urgent_work_starts_before_what_is_queued() -> None:
    worker = Worker(limit=1)
    gate = Gate()
    worker.submit("channel:C1", gate.item("queued"))
    worker.submit(None, gate.item("form", hold=False), urgent=True)
    await gate.until_started(2)
    assert "form" in gate.finished
    gate.release.set()
    await worker.drain()


async def test_a_failure_is_recorded_and_the_next_item_runs() -> None:
    worker = Worker()
    done: list[str] = []

    async def fail() -> None:
        raise RuntimeError("boom")

    async def after() -> None:
        done.append("after")

    worker.submit("channel:C1", fail())
    worker.submit("channel:C1", after())
    await worker.drain()
    assert done == ["after"] and [str(e) for e in worker.failures] == ["boom"]
    assert worker.pending == 0


async def test_drain_waits_for_work_submitted_by_work() -> None:
    worker = Worker()
    done: list[str] = []

    async def answer() -> None:
        done.append("answer")

    async def command() -> None:
        worker.submit(None, answer())

    worker.submit("channel:C1", command())
    await worker.drain()
    assert done == ["answer"] and worker.pending == 0


async def test_queued_work_costs_no_task_per_item() -> None:
    """Bookkeeping per command is a deque entry: 1,000 queued items on one channel and 1,000
    answers are a handful of tasks, not 2,000."""
    worker = Worker(senders=4)
    gate = Gate()
    before = len(asyncio.all_tasks())
    for n in range(1000):
        worker.submit("channel:C1", gate.item(f"c{n}"))
        worker.submit(None, gate.item(f"a{n}"))
    await gate.until_started(5)
    assert len(asyncio.all_tasks()) - before <= 5  # one runner, four senders
    assert worker.pending == 2000
    gate.release.set()
    await worker.drain()
    assert worker.pending == 0


async def test_a_backlog_holds_the_caller_until_the_work_catches_up() -> None:
    worker = Worker()
    worker.high_water, worker.low_water, worker.hold = 4, 2, 3600
    gate = Gate()
    await worker.wait_for_room()  # no backlog: at once
    for n in range(6):
        worker.submit("channel:C1", gate.item(f"c{n}", hold=n == 0))
    held = asyncio.create_task(worker.wait_for_room())
    await gate.until_started(1)
    assert not held.done()  # six waiting, more than four
    gate.release.set()
    await held  # back under two: the acknowledgement goes out
    assert worker.pending <= 2
    await worker.drain()


async def test_a_backlog_holds_the_caller_no_longer_than_hold() -> None:
    worker = Worker()
    worker.high_water, worker.hold = 1, 0.0
    gate = Gate()
    for n in range(3):
        worker.submit("channel:C1", gate.item(f"c{n}"))
    await worker.wait_for_room()  # still backlogged, but the hold is over
    assert worker.pending == 3
    gate.release.set()
    await worker.drain()


async def test_a_backlog_never_holds_a_request_past_its_ack_deadline() -> None:
    worker = Worker()
    worker.high_water, worker.hold = 1, 3600
    gate = Gate()
    for n in range(3):
        worker.submit("channel:C1", gate.item(f"c{n}"))
    loop = asyncio.get_running_loop()
    token = REQUEST_ARRIVED.set(loop.time() - ACK_BY)  # arrived ACK_BY ago: ack it now
    try:
        await worker.wait_for_room()
    finally:
        REQUEST_ARRIVED.reset(token)
    assert worker.pending == 3
    gate.release.set()
    await worker.drain()
