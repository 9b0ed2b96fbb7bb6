"""PagerDuty Events API v2 against a local server that answers as PagerDuty documents:
trigger on declare, acknowledge on the first ack, resolve on resolve; 429 retried, 400 said."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pagerduty_peer import PagerDutyPeer

from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.core.playbook import Library
from bot.core.router import Router
from bot.core.runner import PlaybookRunner
from bot.core.service import IncidentService, Invocation
from bot.pagerduty import PagerDutyEvents
from bot.playbooks.catalog_loader import load_catalog_text
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders

KEY = "R0123456789abcdef0123456789abcd"[:31] + "e"  # 32 characters


def catalog_text(key: str) -> str:
    return (
        "teams:\n  - name: payments\n    members: [bob]\n    oncall: [bob]\n"
        f"services:\n  - name: checkout\n    owner: payments\n    pagerduty: {key}\n"
    )


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def peer() -> AsyncIterator[PagerDutyPeer]:
    async with PagerDutyPeer() as running:
        yield running


async def world(
    peer: PagerDutyPeer, key: str = KEY
) -> tuple[Router, ConsoleChat, Sleeps, PagerDutyEvents]:
    catalog, problems = load_catalog_text(catalog_text(key))
    assert catalog is not None, problems
    chat = ConsoleChat(lambda line: None)
    service = IncidentService(MemoryStore(), {"console": chat}, ManualClock())
    sleeps = Sleeps()
    events = PagerDutyEvents(peer.url, sleep=sleeps)
    service.runner = PlaybookRunner(service, Library([]), MemoryReminders(), catalog, events)
    return Router(service), chat, sleeps, events


async def test_trigger_acknowledge_resolve_with_the_incident_as_dedup_key(
    peer: PagerDutyPeer,
) -> None:
    router, _, _, events = await world(peer)
    try:
        await router.handle(
            Invocation("zoe", "console", "general"), "declare sev1 service:checkout Down"
        )
        here = Invocation("bob", "console", "inc-1-down")
        await router.handle(here, "ack")
        # The commander resolves (resolving is theirs: bot/core/access.py).
        await router.handle(Invocation("zoe", "console", "inc-1-down"), "resolve fixed")
    finally:
        await events.close()
    assert [(e["event_action"], e["dedup_key"], e["routing_key"]) for e in peer.events] == [
        ("trigger", "warroom-INC-1", KEY),
        ("acknowledge", "warroom-INC-1", KEY),
        ("resolve", "warroom-INC-1", KEY),
    ]
    assert peer.events[0]["payload"] == {
        "summary": "INC-1 (sev1): Down", "source": "warroom", "severity": "critical",
    }  # fmt: skip


async def test_429_is_retried_with_backoff(peer: PagerDutyPeer) -> None:
    router, chat, sleeps, events = await world(peer)
    peer.throttle = 2
    try:
        await router.handle(
            Invocation("zoe", "console", "general"), "declare sev2 service:checkout Slow"
        )
    finally:
        await events.close()
    assert peer.requests == 3 and len(peer.events) == 1
    assert sleeps.delays == [2.0, 4.0]
    assert not any("PagerDuty did not" in t for _, t in chat.posts)


async def test_400_is_not_retried_and_the_channel_is_told_why(peer: PagerDutyPeer) -> None:
    router, chat, sleeps, events = await world(peer, key="tooshort")
    try:
        await router.handle(
            Invocation("zoe", "console", "general"), "declare sev2 service:checkout Slow"
        )
    finally:
        await events.close()
    assert peer.requests == 1 and sleeps.delays == []
    assert (
        "inc-1-slow",
        "PagerDuty did not take the trigger event (HTTP 400 Event object is invalid: "
        "Length of 'routing_key' is incorrect (should be 32 characters)).",
    ) in chat.posts
    # The page through chat still happened.
    assert "bob" in chat.channels["inc-1-slow"].members
