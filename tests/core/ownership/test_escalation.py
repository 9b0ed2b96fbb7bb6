"""Escalation policies on durable reminders, with a fake clock: levels in order, repeated,
another team's on-call as a target, stopped by the first acknowledgement."""

from __future__ import annotations

from datetime import timedelta

from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.core.commands import Acknowledge
from bot.core.ownership import Catalog
from bot.core.ownership.escalation import elapsed_before, step
from bot.core.playbook import Library
from bot.core.router import Router
from bot.core.runner import PlaybookRunner
from bot.core.service import IncidentService, Invocation
from bot.schedule.ticker import Ticker
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders

CATALOG = {
    "teams": [
        {
            "name": "payments",
            "members": ["bob", "alice"],
            "oncall": ["bob"],
            "escalation": {
                "repeat": 1,
                "levels": [
                    {"targets": [{"oncall": True}], "after": "5m"},
                    {"targets": [{"person": "alice"}, {"team": "sre"}], "after": "10m"},
                ],
            },
        },
        {"name": "sre", "members": ["erin"], "oncall": ["erin"]},
    ],
    "services": [{"name": "checkout", "owner": "payments"}],
}


def test_step_arithmetic() -> None:
    policy = Catalog.model_validate(CATALOG).teams[0].policy()
    steps = [step(policy, i) for i in range(5)]
    assert [s.round if s else None for s in steps] == [0, 0, 1, 1, None]
    assert [s.next_due if s else None for s in steps] == [
        timedelta(minutes=5), timedelta(minutes=10), timedelta(minutes=5), None, None,
    ]  # fmt: skip
    assert elapsed_before(policy, 3) == timedelta(minutes=20)


def pages(chat: ConsoleChat) -> list[str]:
    return [user for user, _, _ in chat.pages]


async def test_levels_run_in_order_repeat_and_stop_at_the_first_ack(clock: ManualClock) -> None:
    chat = ConsoleChat(lambda line: None)
    service = IncidentService(MemoryStore(), {"console": chat}, clock)
    reminders = MemoryReminders()
    catalog = Catalog.model_validate(CATALOG)
    service.runner = PlaybookRunner(service, Library([]), reminders, catalog)
    ticker = Ticker(reminders, service.runner.fire, clock, name="t")
    router = Router(service)
    await router.handle(
        Invocation("zoe", "console", "general"), "declare sev1 service:checkout Down"
    )
    assert pages(chat) == ["bob"]
    clock.advance(minutes=5)
    assert await ticker.tick() == 1
    assert pages(chat) == ["bob", "alice", "erin"]  # a person and another team's on-call
    clock.advance(minutes=10)
    assert await ticker.tick() == 1  # round 2: the on-call again (15 minutes since: re-sent)
    assert pages(chat) == ["bob", "alice", "erin", "bob"]
    said = [t for c, t in chat.posts if c == "inc-1-down"]
    assert "Nobody acknowledged INC-1 within 15m 00s: escalating to @bob (payments)." in said
    clock.advance(minutes=2)
    await router.handle(Invocation("erin", "console", "inc-1-down"), "ack")
    incident = await service.store.get_incident(1)
    assert incident is not None and incident.acknowledged_at == clock.now()
    clock.advance(hours=1)
    assert await ticker.tick() == 0
    assert pages(chat) == ["bob", "alice", "erin", "bob"]
    assert await reminders.pending(1) == []


async def test_a_page_button_is_for_the_paged_person_the_channel_ack_for_members(
    clock: ManualClock,
) -> None:
    chat = ConsoleChat(lambda line: None)
    service = IncidentService(MemoryStore(), {"console": chat}, clock, admins=["root"])
    reminders = MemoryReminders()
    service.runner = PlaybookRunner(
        service, Library([]), reminders, Catalog.model_validate(CATALOG)
    )
    router = Router(service)
    await router.handle(
        Invocation("zoe", "console", "general"), "declare sev1 service:checkout Down"
    )
    assert pages(chat) == ["bob"]
    # bob's button pressed by anyone else, an admin included: refused, nothing changes.
    for presser in ("mallory", "zoe", "root"):
        reply = await router.execute(Invocation(presser, "console", None), Acknowledge(1, "bob"))
        assert (
            reply.refused and reply.text == "This page is for @bob: only they can acknowledge it."
        )
    incident = await service.store.get_incident(1)
    assert incident is not None and incident.acknowledged_at is None
    assert [r.kind for r in await reminders.pending(1)] == ["escalate"]
    # /incident ack typed in the incident channel by a member (not paged) still acknowledges.
    await router.handle(Invocation("zoe", "console", "inc-1-down"), "ack")
    incident = await service.store.get_incident(1)
    assert incident is not None and incident.acknowledged_at == clock.now()
    assert await reminders.pending(1) == []


async def test_oncall_in_chat_says_did_you_mean(clock: ManualClock) -> None:
    chat = ConsoleChat(lambda line: None)
    service = IncidentService(MemoryStore(), {"console": chat}, clock)
    service.runner = PlaybookRunner(
        service, Library([]), MemoryReminders(), Catalog.model_validate(CATALOG)
    )
    router = Router(service)
    reply = await router.handle(Invocation("zoe", "console", "general"), "oncall chekout")
    assert reply.text == "no such team or service 'chekout'; did you mean 'checkout'?"
    reply = await router.handle(Invocation("zoe", "console", "general"), "oncall checkout")
    assert reply.text.splitlines()[0] == "@bob (no change in the next 60 days)"
