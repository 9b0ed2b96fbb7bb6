"""bot/store/session.py: a transaction's outcome, which the calls held for it await."""

from __future__ import annotations

import asyncio

import pytest

from bot.store.session import Outcome


async def test_cancelling_a_call_held_for_a_commit_leaves_the_outcome_to_the_database() -> None:
    # Several calls may wait for one commit's outcome; one of them cancelled (its timeout,
    # a shutdown) must not make the others, and the batch, believe the commit failed.
    outcome = Outcome(loop=asyncio.get_running_loop())
    seen: list[bool] = []

    async def held() -> None:
        seen.append(await outcome)

    cancelled, other = asyncio.ensure_future(held()), asyncio.ensure_future(held())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    assert not outcome.done() and not cancelled.done()  # it waits for the outcome
    outcome.set_result(True)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await other
    assert seen == [True] and outcome.result() is True
