"""Calls delivered side by side are built one after another: on a platform that says when a
request has gone out (bot/core/wire.py), the outbox builds the next call only then, so the
first call's bytes are not held behind the building of the others (bot/schedule/outbox.py,
`_one_on_the_wire`)."""

from __future__ import annotations

import asyncio

import pytest

from bot.core import wire
from bot.schedule.outbox import OutboxWorker


class PacedChat:
    """Records when each post begins and goes out; its answers come when the test says."""

    platform = "paced"

    def __init__(self, *, signals_sent: bool) -> None:
        self.signals_sent = signals_sent
        self.log: list[str] = []
        self.answers: dict[str, asyncio.Future[None]] = {}
        self.fail: set[str] = set()

    async def post(self, name: str) -> None:
        self.log.append(f"build {name}")
        self.answers[name] = asyncio.get_running_loop().create_future()
        if name in self.fail:
            raise ConnectionError(f"{name}: no connection")
        for _ in range(3):  # the request's body written a few turns later, as aiohttp does
            await asyncio.sleep(0)
        await wire.sending()
        self.log.append(f"sent {name}")
        await self.answers[name]


def worker_for(chat: PacedChat) -> OutboxWorker:
    # The gate uses only the worker's chats: no store or outbox is reached.
    return OutboxWorker(None, None, {"paced": chat}, None, name="test")  # type: ignore[arg-type]


async def deliver(
    worker: OutboxWorker, chat: PacedChat, name: str, hold: asyncio.Future[bool] | None = None
) -> None:
    async with worker._one_on_the_wire("paced", hold):
        await chat.post(name)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_the_next_call_is_built_once_the_one_before_has_gone_out() -> None:
    chat = PacedChat(signals_sent=True)
    worker = worker_for(chat)
    calls = [asyncio.ensure_future(deliver(worker, chat, n)) for n in ("post", "announce")]
    await settle()
    # Both are out, one after the other, while neither has been answered yet.
    assert chat.log == ["build post", "sent post", "build announce", "sent announce"]
    for answer in chat.answers.values():
        answer.set_result(None)
    await asyncio.gather(*calls)


async def test_a_platform_that_does_not_say_builds_every_call_at_once() -> None:
    chat = PacedChat(signals_sent=False)  # Mattermost: its calls run on threads
    worker = worker_for(chat)
    calls = [asyncio.ensure_future(deliver(worker, chat, n)) for n in ("post", "announce")]
    await settle()
    assert chat.log[:2] == ["build post", "build announce"]
    for answer in chat.answers.values():
        answer.set_result(None)
    await asyncio.gather(*calls)


async def test_a_call_that_fails_before_going_out_lets_the_next_one_go() -> None:
    chat = PacedChat(signals_sent=True)
    chat.fail.add("post")
    worker = worker_for(chat)
    failing = asyncio.ensure_future(deliver(worker, chat, "post"))
    after = asyncio.ensure_future(deliver(worker, chat, "announce"))
    await settle()
    with pytest.raises(ConnectionError):
        await failing
    assert chat.log == ["build post", "build announce", "sent announce"]
    chat.answers["announce"].set_result(None)
    await after


async def held_post() -> tuple[PacedChat, OutboxWorker, asyncio.Future[bool], asyncio.Task[None]]:
    """A post built while its transaction commits, held for the commit's outcome."""
    chat = PacedChat(signals_sent=True)
    worker = worker_for(chat)
    committed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    first = asyncio.ensure_future(deliver(worker, chat, "post", committed))
    await settle()
    return chat, worker, committed, first


async def test_a_call_built_while_its_transaction_commits_goes_out_once_it_has() -> None:
    chat, _, committed, first = await held_post()
    assert chat.log == ["build post"]  # built, and held
    committed.set_result(True)
    await settle()
    assert chat.log == ["build post", "sent post"]
    chat.answers["post"].set_result(None)
    await first


async def test_a_call_built_while_its_transaction_rolls_back_never_goes_out() -> None:
    chat, worker, committed, first = await held_post()
    committed.set_result(False)
    with pytest.raises(wire.NotCommitted):
        await first
    assert chat.log == ["build post"]
    # And the next call is not held behind it.
    after = asyncio.ensure_future(deliver(worker, chat, "announce"))
    await settle()
    assert chat.log == ["build post", "build announce", "sent announce"]
    chat.answers["announce"].set_result(None)
    await after
