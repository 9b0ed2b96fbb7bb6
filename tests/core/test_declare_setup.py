"""The set-up after a declaration (channel, announcement, playbook start) on every store: in a
command's transaction it is recorded once, at the end, with the declaration; without one each
step is recorded as it is done, so `finish` after a failure skips what was done."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.chat.console.chat import ConsoleChat
from bot.core import messages
from bot.core.clock import ManualClock
from bot.core.commands import Declare
from bot.core.declare import DeclarationIncomplete, declared_key
from bot.core.model import Incident, Invocation, Severity, Task
from bot.core.router import Router
from bot.core.runner import PlaybookRunner
from bot.core.service import IncidentService
from bot.playbooks.loader import load_library
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders, SqlReminders

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
ALICE = Invocation("alice", "console", "general")


class FlakyChat(ConsoleChat):
    """Console chat whose next checklist post fails (a platform error)."""

    fail_checklist = False

    async def post_checklist(self, channel_id: str, incident: Incident, tasks: list[Task]) -> str:
        if self.fail_checklist:
            self.fail_checklist = False
            raise RuntimeError("chat said no")
        return await super().post_checklist(channel_id, incident, tasks)


def service_on(store: Any, clock: ManualClock) -> tuple[IncidentService, FlakyChat, Any]:
    reminders = MemoryReminders() if isinstance(store, MemoryStore) else SqlReminders(store.engine)
    chat = FlakyChat(lambda line: None)
    service = IncidentService(store, {"console": chat}, clock, announce_channel="incidents")
    service.runner = PlaybookRunner(service, load_library(PLAYBOOKS), reminders)
    return service, chat, reminders


async def test_a_declaration_records_its_whole_setup(store: Any, clock: ManualClock) -> None:
    service, chat, reminders = service_on(store, clock)
    await Router(service).handle(ALICE, "declare sev3 commander:bob Disk full")
    incident = await store.get_incident(1)
    assert incident.playbook == "default"
    # The channel, summary and checklist ids, as chat gave them.
    assert incident.channel_name == "inc-1-disk-full"
    assert "bob" in chat.messages[incident.summary_message_id][1]
    assert "Confirm the impact" in chat.messages[incident.checklist_message_id][1]
    assert incident.summary_message_id in chat.pins
    assert chat.channels[incident.channel_id].members == {"alice", "bob"}
    declared = await store.get_event(declared_key(1))
    assert declared.data["announced"] is True and declared.data["playbook_started"] is True
    assert declared.data["severity"] == "sev3" and declared.data["playbook"] == "default"
    tasks = await store.tasks(1)
    assert [(t.position, t.checklist) for t in tasks] == [
        (1, "respond"),
        (2, "respond"),
        (3, "respond"),
    ]
    assert len({t.id for t in tasks}) == 3
    pending = await reminders.pending(1)
    assert sorted(r.key for r in pending) == [
        f"INC-1:status:{(clock.now() + timedelta(hours=1)).isoformat()}",
        "INC-1:task:1",
        "INC-1:task:3",
    ]
    announced = [text for channel, text in chat.posts if channel == "incidents"]
    assert len(announced) == 1 and "Disk full" in announced[0]


async def test_without_a_transaction_each_step_is_recorded_as_done(
    store: Any, clock: ManualClock
) -> None:
    service, chat, _ = service_on(store, clock)
    chat.fail_checklist = True
    with pytest.raises(DeclarationIncomplete):
        await service.declare(ALICE, Declare(title="Disk full", severity=Severity.SEV3))
    # Recorded as each step was done: the channel and summary, the announcement; the
    # playbook start failed before it was.
    incident = await store.get_incident(1)
    assert incident.channel_id and incident.summary_message_id
    declared = await store.get_event(declared_key(1))
    assert declared.data.get("announced") is True
    assert "playbook_started" not in declared.data
    posts = len(chat.posts)
    await service.declarer.finish(incident)
    # Nothing again: no second channel, summary or announcement.
    assert [c for c in chat.channels if c.startswith("inc-")] == ["inc-1-disk-full"]
    again = await store.get_incident(1)
    assert again.summary_message_id == incident.summary_message_id
    assert not [c for c, _ in chat.posts[posts:] if c == "incidents"]
    assert (await store.get_event(declared_key(1))).data["playbook_started"] is True


async def test_in_a_transaction_a_failed_setup_keeps_nothing(
    store: Any, clock: ManualClock
) -> None:
    """The set-up flags go into the declared event's INSERT only because of this: a step that
    fails rolls back the declaration with them (the memory store has no rollback)."""
    if isinstance(store, MemoryStore):
        pytest.skip("the memory store keeps each commit")
    service, chat, reminders = service_on(store, clock)
    chat.fail_checklist = True
    reply = await Router(service).handle(ALICE, "declare sev3 Disk full")
    assert reply.text == messages.declaration_incomplete("INC-1")
    assert await store.get_incident(1) is None
    assert await store.get_event(declared_key(1)) is None
    assert await reminders.pending(1) == []
