"""The golden postmortem scenario, played through the real IncidentService and ConsoleChat on
a MemoryStore by default, or on any Store (tests/store/test_raw.py plays it on SQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.core.model import Change
from bot.core.ports import Store
from bot.core.router import Router
from bot.core.service import IncidentService, Invocation
from bot.store.memory import MemoryStore

GOLDEN = Path(__file__).resolve().parent / "golden"
CHANNEL = "inc-1-checkout-payments-failing"


class Scenario:
    def __init__(self, store: Store | None = None) -> None:
        self.clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
        self.store = store or MemoryStore()
        self.chat = ConsoleChat(write=lambda line: None)
        self.service = IncidentService(self.store, {"console": self.chat}, self.clock)
        self.router = Router(self.service)

    async def run(self, user: str, text: str, channel: str = CHANNEL) -> str:
        reply = await self.router.handle(Invocation(user, "console", channel), text)
        return reply.text

    async def say(self, user: str, text: str, key: str) -> None:
        await self.service.record_message(
            "console", CHANNEL, user, text, occurred_at=self.clock.now(), source_key=key
        )


async def resolved_incident(store: Store | None = None) -> Scenario:
    s = Scenario(store)
    await s.run("alice", "declare sev2 service:checkout Checkout | payments failing", "general")
    incident = await s.store.get_incident(1)
    assert incident is not None and incident.channel_name == CHANNEL
    incident.playbook, incident.playbook_hash = "payments", "9f2c1e7d3b4a5f60718293a4b5c6d7e8"
    await s.store.commit(Change(incident=incident))
    s.clock.advance(minutes=2)
    await s.say("bob", "I see 500s from <@U123|carol>'s service, @here have a look", "m1")
    s.clock.advance(minutes=1)
    await s.run("alice", "status Investigating 5xx on checkout.\nCustomers see errors @channel")
    s.clock.advance(minutes=2)
    await s.run("alice", "sev sev1")
    s.clock.advance(minutes=1)
    await s.run("alice", "role ops @bob")
    s.clock.advance(minutes=2)
    await s.say("bob", "found it: bad deploy 2026.03.02-1 | roll back?", "m2")
    await s.service.highlight("m2", "alice")
    await s.say("carol", "oops, wrong channel", "m3")
    await s.service.delete_message("m3")
    await s.say("bob", "rolling back <!channel>", "m4")
    await s.service.edit_message("m4", "rolling back now <!here> <!-- no comment")
    s.clock.advance(minutes=2)
    await s.run("alice", "task add Roll back the deploy")
    await s.run("alice", "task add Tell support")
    await s.run("alice", "task add Check refunds")
    await s.run("bob", "task done 1")
    await s.run("alice", "task skip 2")
    s.clock.advance(minutes=2)
    await s.run("alice", "state identified")
    s.clock.advance(minutes=8)
    await s.run("alice", "state monitoring")
    s.clock.advance(minutes=1)
    await s.run("bob", "note Error rate back to baseline")
    await s.run("alice", "status Rolled back; watching for 10 minutes.")
    s.clock.advance(minutes=9)
    await s.run("alice", "resolve Rolled back release 2026.03.02-1")
    s.clock.advance(minutes=1)
    await s.run("alice", "followup Add a canary stage to checkout deploys")
    await s.run("bob", "followup Alert when payment 5xx | ratio > 2%")
    return s
