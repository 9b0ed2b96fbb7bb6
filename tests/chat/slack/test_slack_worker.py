"""The listeners' Worker: acknowledgements first, so during a burst of requests work waits for
a lull, but never longer than its deferral limit, and draining starts it at once."""

from __future__ import annotations

import asyncio

from bot.chat.slack.listeners import Worker


def burst(worker: Worker, requests: int = 2) -> None:
    """Requests in quick succession, as the platform reports them."""
    for _ in range(requests):
        worker.request_started()
        worker.request_finished()


async def _spin(times: int = 50) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


async def test_work_waits_while_requests_keep_coming() -> None:
    worker = Worker(quiet=3600, max_defer=3600)
    started: list[str] = []

    async def work(name: str) -> None:
        started.append(name)

    burst(worker)
    worker.submit("channel:C1", work("first"))
    worker.submit("channel:C2", work("second"))
    await _spin()
    assert started == [] and worker.pending == 2
    await worker.drain()  # draining does not wait for the lull
    assert sorted(started) == ["first", "second"] and worker.pending == 0


async def test_work_starts_at_its_deadline_even_under_load() -> None:
    worker = Worker(quiet=3600, max_defer=0)
    done = asyncio.Event()

    async def work() -> None:
        done.set()

    burst(worker)
    worker.submit("channel:C1", work())
    await done.wait()  # no drain: the deadline alone lets it start


async def test_work_starts_at_once_without_requests() -> None:
    worker = Worker(quiet=3600, max_defer=3600)
    done = asyncio.Event()

    async def work() -> None:
        done.set()

    worker.submit("channel:C1", work())
    await done.wait()


async def test_the_work_of_a_request_that_comes_alone_starts_at_once() -> None:
    worker = Worker(quiet=3600, max_defer=3600)
    done = asyncio.Event()

    async def work() -> None:
        done.set()

    burst(worker, requests=1)  # the first request after a lull: no burst
    worker.submit("channel:C1", work())
    await done.wait()


async def test_urgent_work_does_not_wait_for_the_lull() -> None:
    worker = Worker(quiet=3600, max_defer=3600)
    done = asyncio.Event()

    async def work() -> None:
        done.set()

    burst(worker)
    worker.submit(None, work(), urgent=True)
    await done.wait()


async def test_one_channel_keeps_its_order_after_the_lull() -> None:
    worker = Worker(quiet=3600, max_defer=3600)
    order: list[int] = []

    async def work(n: int) -> None:
        await asyncio.sleep(0)
        order.append(n)

    burst(worker)
    for n in range(5):
        worker.submit("channel:C1", work(n))
    await worker.drain()
    assert order == [0, 1, 2, 3, 4]
