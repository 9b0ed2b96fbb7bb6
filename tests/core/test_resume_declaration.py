"""A declaration interrupted by a chat failure is recorded, says so, and is finished exactly
once when warroom starts again: one channel, one summary, one announcement, one checklist."""

from __future__ import annotations

from pathlib import Path

from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.core.model import Invocation
from bot.core.router import Router
from bot.core.runner import PlaybookRunner
from bot.core.service import IncidentService
from bot.playbooks.loader import load_library
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


class FlakyChat(ConsoleChat):
    """The console chat, failing the named calls the next time they are made."""

    def __init__(self) -> None:
        super().__init__(write=lambda line: None)
        self.failing: set[str] = set()

    def _maybe_fail(self, name: str) -> None:
        if name in self.failing:
            self.failing.discard(name)
            raise ConnectionError(f"{name}: chat platform unavailable")

    async def pin(self, channel_id: str, message_id: str) -> None:
        self._maybe_fail("pin")
        await super().pin(channel_id, message_id)

    async def post(self, channel_id: str, text: str) -> str:
        if channel_id == "incidents":
            self._maybe_fail("announce")
        return await super().post(channel_id, text)


def build(store: MemoryStore, reminders: MemoryReminders, chat: FlakyChat) -> IncidentService:
    """What the composition root builds at every start, on the same store."""
    service = IncidentService(store, {"console": chat}, ManualClock(), announce_channel="incidents")
    service.runner = PlaybookRunner(service, load_library(PLAYBOOKS), reminders, None)
    return service


async def test_interrupted_declaration_is_finished_once_after_restart() -> None:
    store, reminders, chat = MemoryStore(), MemoryReminders(), FlakyChat()
    chat.failing = {"announce"}
    service = build(store, reminders, chat)
    reply = await Router(service).handle(
        Invocation("alice", "console", "general"), "declare sev2 Payments failing"
    )
    assert reply.text.startswith("INC-1 is declared and recorded, but setting up its channel")
    incident = await store.get_incident(1)
    assert incident is not None and incident.channel_name == "inc-1-payments-failing"
    assert incident.checklist_message_id is None  # the playbook never started

    # Restart: a new service on the same store and chat finishes the set-up.
    restarted = build(store, reminders, chat)
    assert [i.ref for i in await restarted.resume_declarations()] == ["INC-1"]
    # ...and a second restart finds nothing left to do.
    assert await build(store, reminders, chat).resume_declarations() == []

    incident = await store.get_incident(1)
    assert incident is not None and incident.checklist_message_id is not None
    assert list(chat.channels) == ["inc-1-payments-failing"]
    posts = [text for channel, text in chat.posts if channel == "inc-1-payments-failing"]
    assert sum(text.startswith("INC-1: Payments failing") for text in posts) == 1  # summary
    assert sum(text.startswith("Tasks of INC-1") for text in posts) == 1  # checklist
    announced = [text for channel, text in chat.posts if channel == "incidents"]
    assert len(announced) == 1 and "Payments failing" in announced[0]
    assert incident.summary_message_id in chat.pins
    tasks = await store.tasks(1)
    assert tasks and len({t.position for t in tasks}) == len(tasks)


async def test_a_failed_pin_is_retried_on_restart() -> None:
    store, reminders, chat = MemoryStore(), MemoryReminders(), FlakyChat()
    chat.failing = {"pin"}
    service = build(store, reminders, chat)
    await Router(service).handle(Invocation("alice", "console", "general"), "declare db down")
    incident = await store.get_incident(1)
    assert incident is not None and incident.summary_message_id not in chat.pins
    await build(store, reminders, chat).resume_declarations()
    assert incident.summary_message_id in chat.pins
    assert (
        len(
            [p for p in chat.posts if p[0] == "inc-1-db-down" and p[1].startswith("INC-1: db down")]
        )
        == 1
    )


async def test_other_platforms_incidents_are_left_alone() -> None:
    store, reminders, chat = MemoryStore(), MemoryReminders(), FlakyChat()
    chat.failing = {"pin"}
    service = build(store, reminders, chat)
    await Router(service).handle(Invocation("alice", "console", "general"), "declare db down")
    elsewhere = build(store, reminders, chat)
    elsewhere.chats = {}  # a process serving no console, e.g. Slack only
    assert await elsewhere.resume_declarations() == []
