"""The order a batch's rows start in when they become ready together (bot/schedule/outbox.py):
the row with the longest chain waiting behind it first, so that the chain goes on sooner."""

from __future__ import annotations

import asyncio

from bot.schedule.outbox import _heads_of_chains_first, _Planned


def planned(name: str, *after: _Planned) -> _Planned:
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    return _Planned(name, [p.done for p in after], False, done)  # type: ignore[arg-type]


async def test_the_row_a_chain_waits_for_starts_before_its_siblings() -> None:
    create = planned("create")
    invite = planned("invite", create)
    topic = planned("topic", create)
    summary = planned("summary", create)
    announce = planned("announce", create)
    pin = planned("pin", create, summary)
    checklist = planned("checklist", summary, create)
    plan = [create, invite, topic, summary, announce, pin, checklist]
    order = [p.row for p in _heads_of_chains_first(plan)]
    assert order == ["create", "summary", "invite", "topic", "announce", "pin", "checklist"]


async def test_rows_of_equal_depth_keep_their_order_and_unknown_waits_are_ignored() -> None:
    elsewhere = planned("elsewhere")  # a row of another batch: not in this plan
    first, second = planned("first", elsewhere), planned("second")
    third = planned("third", second)
    order = [p.row for p in _heads_of_chains_first([first, second, third])]
    assert order == ["second", "first", "third"]
