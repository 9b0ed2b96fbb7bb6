"""Playbooks driving a real incident: console chat, memory store, manual clock, ticker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.core.postmortem import render_postmortem
from bot.core.router import Reply, Router
from bot.core.runner import PlaybookRunner
from bot.core.service import IncidentService, Invocation
from bot.playbooks.loader import load_library
from bot.schedule.ticker import Ticker
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders, SqlReminders

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


@dataclass
class World:
    clock: ManualClock
    chat: ConsoleChat
    store: MemoryStore
    reminders: MemoryReminders
    service: IncidentService
    router: Router
    ticker: Ticker

    async def run(self, text: str, user: str = "alice", channel: str | None = "general") -> Reply:
        return await self.router.handle(Invocation(user, "console", channel), text)

    async def later(self, **delta: float) -> int:
        self.clock.advance(timedelta(**delta))
        return await self.ticker.tick()

    def said(self, channel: str) -> list[str]:
        return [text for name, text in self.chat.posts if name == channel]


@pytest.fixture
def world(clock: ManualClock) -> World:
    store = MemoryStore()
    chat = ConsoleChat(lambda line: None)
    service = IncidentService(store, {"console": chat}, clock)
    reminders = MemoryReminders()
    runner = PlaybookRunner(service, load_library(PLAYBOOKS), reminders)
    service.runner = runner
    ticker = Ticker(reminders, runner.fire, clock, name="test")
    return World(clock, chat, store, reminders, service, Router(service), ticker)


CH = "inc-1-checkout-is-down"


async def test_major_incident_is_selected_and_recorded(world: World) -> None:
    await world.run("declare sev1 Checkout is down")
    incident = await world.store.get_incident(1)
    assert incident is not None
    assert incident.playbook == "major-incident"
    assert incident.playbook_hash and len(incident.playbook_hash) == 12
    said = world.said(CH)
    assert any("Commander: @alice" in text for text in said)  # the announcement
    assert incident.checklist_message_id is not None
    tasks = await world.store.tasks(1)
    assert [t.checklist for t in tasks] == ["first-15-minutes"] * 4
    assert tasks[0].assignee_role == "commander"
    assert tasks[0].due_at == world.clock.now() + timedelta(minutes=5)
    # The postmortem names the playbook version that ran.
    record = await world.service.record(1)
    version = f"| Playbook | major-incident (version `{incident.playbook_hash}`) |"
    assert version in render_postmortem(record, world.clock.now())


async def test_service_specific_playbook_wins_and_override_works(world: World) -> None:
    await world.run("declare sev1 service:database Primary down")
    assert (await world.store.get_incident(1)).playbook == "database-outage"  # type: ignore[union-attr]
    await world.run("declare sev4 playbook:security-incident Odd logins")
    second = await world.store.get_incident(2)
    assert second is not None and second.playbook == "security-incident" and second.private
    reply = await world.run("declare playbook:major-incdent Oops")
    assert "Did you mean 'major-incident'?" in reply.text


async def test_status_reminders_follow_cadence_reset_and_severity(world: World) -> None:
    await world.run("declare sev2 Checkout is down")
    await world.run("task done 1", channel=CH)  # keep task reminders out of the way
    await world.run("task skip 2", channel=CH)
    await world.run("task skip 3", channel=CH)
    await world.run("task skip 4", channel=CH)
    world.chat.posts.clear()
    await world.later(minutes=29)
    assert not any("status update" in t for t in world.said(CH))
    await world.later(minutes=1)  # 30m cadence for sev2
    assert sum("due a status update" in t for t in world.said(CH)) == 1
    await world.run("status Rolling back", channel=CH)
    world.chat.posts.clear()
    await world.later(minutes=20)
    assert not any("due a status update" in t for t in world.said(CH))  # reset by the update
    await world.run("sev sev1", channel=CH)  # 15m cadence, counted from the last update
    assert any("escalated to sev1" in t for t in world.said(CH))
    await world.later(seconds=1)
    assert sum("due a status update" in t for t in world.said(CH)) == 1
    await world.later(minutes=15)
    assert sum("due a status update" in t for t in world.said(CH)) == 2
    await world.run("resolve Rolled back", channel=CH)
    world.chat.posts.clear()
    await world.later(hours=2)
    assert not any("due a status update" in t for t in world.said(CH))


async def test_overdue_task_reminds_the_role_holder(world: World) -> None:
    await world.run("declare sev1 Checkout is down")
    await world.run("role comms @bob", channel=CH)
    world.chat.posts.clear()
    await world.later(minutes=5)
    assert any(t.startswith("@alice: task 1 is due: Assign comms") for t in world.said(CH))
    await world.later(minutes=10)
    assert any(t.startswith("@bob: task 2 is due") for t in world.said(CH))
    world.chat.posts.clear()
    await world.run("task done 3", channel=CH)
    await world.later(minutes=10)
    assert not any("task 3 is due" in t for t in world.said(CH))


async def test_resolve_starts_post_incident_checklist_and_retrospective(world: World) -> None:
    await world.run("declare sev2 Checkout is down")
    await world.run("resolve Fixed", channel=CH)
    tasks = await world.store.tasks(1)
    assert [t.checklist for t in tasks][-3:] == ["post-incident"] * 3
    world.chat.posts.clear()
    await world.later(days=1)
    assert any("hold the retrospective" in t for t in world.said(CH))
    timeline = await world.store.timeline(1)
    assert any(e.kind == "reminder" for e in timeline)


async def test_roles_come_from_the_playbook(world: World) -> None:
    await world.run("declare sev4 Slow page")  # default playbook: commander, ops
    channel = "inc-1-slow-page"
    reply = await world.run("role scribe @bob", channel=channel)
    assert "Unknown role 'scribe'" in reply.text and "commander, ops" in reply.text
    assert (await world.run("role ops @bob", channel=channel)).text == ""
    await world.run("declare playbook:security-incident Leak")
    reply = await world.run("role legal @bob", channel="inc-2-leak")
    assert "may not hold the legal role" in reply.text


async def test_triggers_on_state_change_and_team_pages_say_so(world: World) -> None:
    await world.run("declare sev2 service:database Replica lag")
    channel = "inc-1-replica-lag"
    assert any("no service catalog" in t for t in world.said(channel))
    await world.run("state identified", channel=channel)
    tasks = await world.store.tasks(1)
    assert "failover" in {t.checklist for t in tasks}
    assert any("failover checklist added" in t for t in world.said(channel))


async def test_checklist_message_is_updated_in_place(world: World) -> None:
    await world.run("declare sev3 Slow page")
    incident = await world.store.get_incident(1)
    assert incident is not None and incident.checklist_message_id
    await world.run("task done 1", channel="inc-1-slow-page")
    _, text = world.chat.messages[incident.checklist_message_id]
    assert "1. [x]" in text
    await world.run("task add Call the vendor", channel="inc-1-slow-page")
    _, text = world.chat.messages[incident.checklist_message_id]
    assert "Call the vendor" in text


async def test_without_playbooks_nothing_changes(clock: ManualClock) -> None:
    store = MemoryStore()
    chat = ConsoleChat(lambda line: None)
    service = IncidentService(store, {"console": chat}, clock)
    await Router(service).handle(Invocation("alice", "console", "general"), "declare Outage")
    incident = await store.get_incident(1)
    assert incident is not None and incident.playbook is None
    assert incident.checklist_message_id is None


async def test_playbook_run_on_every_store(store: object, clock: ManualClock) -> None:
    """Tasks with roles and due times, and reminders, round-trip through SQL too."""
    from bot.store.sql import SqlStore

    reminders = SqlReminders(store.engine) if isinstance(store, SqlStore) else MemoryReminders()
    chat = ConsoleChat(lambda line: None)
    service = IncidentService(store, {"console": chat}, clock)  # type: ignore[arg-type]
    service.runner = PlaybookRunner(service, load_library(PLAYBOOKS), reminders)
    ticker = Ticker(reminders, service.runner.fire, clock, name="t")
    router = Router(service)
    await router.handle(Invocation("alice", "console", "general"), "declare sev1 Checkout is down")
    tasks = await store.tasks(1)  # type: ignore[attr-defined]
    assert tasks[1].assignee_role == "comms"
    assert tasks[1].due_at == clock.now() + timedelta(minutes=15)
    incident = await store.get_incident(1)  # type: ignore[attr-defined]
    assert incident.checklist_message_id and incident.playbook == "major-incident"
    clock.advance(minutes=15)
    assert await ticker.tick() == 4  # tasks 1 and 2, the "assign roles" nudge, status update
    assert await ticker.tick() == 0
    said = [text for _, text in chat.posts]
    assert sum("due a status update" in text for text in said) == 1
    kinds = [e.kind for e in await store.timeline(1)]  # type: ignore[attr-defined]
    assert kinds.count("reminder") == 4


async def test_labels_choose_a_playbook(world: World) -> None:
    await world.run("declare sev2 label:security Odd logins")
    incident = await world.store.get_incident(1)
    assert incident is not None and incident.playbook == "security-incident" and incident.private
