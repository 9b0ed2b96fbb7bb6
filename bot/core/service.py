"""IncidentService: every change to an incident, through the ports only.

Each public method persists one atomic Change (the incident row plus its timeline events) before
it talks to chat, so a chat failure never loses what was recorded, and re-running the chat side
(`ensure_channel`) after a crash finds the state it needs in the store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.core import engine, messages
from bot.core.commands import Declare, UsageError
from bot.core.declare import DEFAULT_SEVERITY, MAX_NAME_ATTEMPTS, Declarer
from bot.core.desk import DEFAULT_ROLES, IncidentDesk
from bot.core.ingest import IncomingMessage, TimelineIngest
from bot.core.lifecycle import Lifecycle
from bot.core.model import (
    EventKind,
    Incident,
    IncidentRecord,
    Invocation,
    Severity,
    State,
    Task,
    TaskState,
)
from bot.core.ports import Channel, Chat, Clock, Store, UploadNotAllowed
from bot.core.postmortem.split import split_message
from bot.core.responders import Responders

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_ROLES",
    "DEFAULT_SEVERITY",
    "MAX_NAME_ATTEMPTS",
    "IncidentService",
    "Invocation",
]


class IncidentService(IncidentDesk):
    def __init__(
        self,
        store: Store,
        chats: Mapping[str, Chat],
        clock: Clock,
        *,
        announce_channel: str | None = None,
        roles: Sequence[str] = DEFAULT_ROLES,
    ) -> None:
        super().__init__(store, chats, clock, announce_channel=announce_channel, roles=roles)
        self.ingest = TimelineIngest(store, clock)
        self.declarer = Declarer(self)
        self.lifecycle = Lifecycle(self)
        self.responders = Responders(self)

    async def close(self) -> None:
        await self.ingest.close()

    # -- lookups ---------------------------------------------------------------------------

    async def incident_here(self, ctx: Invocation, verb: str) -> Incident:
        incident = None
        if ctx.channel_id is not None:
            incident = await self.store.incident_by_channel(ctx.platform, ctx.channel_id)
        if incident is None:
            raise UsageError(messages.not_in_incident_channel(verb))
        return incident

    async def get(self, number: int) -> Incident:
        incident = await self.store.get_incident(number)
        if incident is None:
            raise UsageError(messages.no_such_incident(f"INC-{number}"))
        return incident

    async def record(self, number: int) -> IncidentRecord:
        incident = await self.get(number)
        return IncidentRecord(
            incident=incident,
            timeline=await self.store.timeline(number),
            roles=await self.store.roles(number),
            participants=await self.store.participants(number),
            status_updates=await self.store.status_updates(number),
            tasks=await self.store.tasks(number),
        )

    # -- declaring -------------------------------------------------------------------------

    async def declare(
        self, ctx: Invocation, cmd: Declare, description: str | None = None
    ) -> Incident:
        return await self.declarer.declare(ctx, cmd, description)

    async def ensure_channel(self, incident: Incident) -> Channel:
        return await self.declarer.ensure_channel(incident)

    # -- changes inside an incident ----------------------------------------------------------

    async def post_status(self, incident: Incident, user: str, text: str) -> None:
        await self.lifecycle.post_status(incident, user, text)

    async def set_severity(self, incident: Incident, user: str, severity: Severity) -> None:
        await self.lifecycle.set_severity(incident, user, severity)

    async def set_state(
        self, incident: Incident, user: str, state: State, text: str | None = None
    ) -> None:
        await self.lifecycle.set_state(incident, user, state, text)

    async def resolve(self, incident: Incident, user: str, text: str | None) -> None:
        await self.lifecycle.resolve(incident, user, text)

    async def assign_role(self, incident: Incident, by: str, role: str, user: str) -> None:
        await self.responders.assign_role(incident, by, role, user)

    async def add_note(self, incident: Incident, user: str, text: str) -> None:
        await self.record_event(incident.number, EventKind.NOTE, user, text, participants=[user])

    async def page_user(self, incident: Incident, by: str, user: str) -> None:
        await self.responders.page_user(incident, by, user)

    async def add_task(self, incident: Incident, user: str, title: str) -> Task:
        tasks = await self.store.tasks(incident.number)
        task = Task(incident.number, "added", len(tasks) + 1, title)
        await self.record_event(
            incident.number,
            EventKind.TASK_CHANGED,
            user,
            f"Task {task.position} added: {title}",
            tasks=[task],
            position=task.position,
            state="added",
        )
        if self.runner is not None:
            await self.runner.show_checklist(incident)
        return task

    async def change_task(
        self, incident: Incident, user: str, action: str, position_text: str
    ) -> Task:
        tasks = await self.store.tasks(incident.number)
        if not position_text.isdigit() or not 1 <= int(position_text) <= len(tasks):
            raise UsageError(messages.bad_task_number(position_text, len(tasks)))
        task = tasks[int(position_text) - 1]
        target = {"done": TaskState.DONE, "skip": TaskState.SKIPPED, "undo": TaskState.OPEN}[action]
        if task.state is target:
            raise UsageError(f"Nothing to change: task {task.position} is already {target}.")
        now = self.clock.now()
        before = task.state
        task.state = target
        self.acknowledge(incident, now)
        await self.record_event(
            incident.number,
            EventKind.TASK_CHANGED,
            user,
            f"Task {task.position} {target}: {task.title}",
            at=now,
            incident=incident,
            tasks=[task],
            position=task.position,
            state=target.value,
            previous=before.value,
        )
        if self.runner is not None:
            await self.runner.show_checklist(incident)
            if target is TaskState.DONE:
                await self.playbook_event(incident, engine.TaskDone(task.position, task.title))
        return task

    async def mark_exported(self, incident: Incident, user: str, where: str) -> None:
        await self.record_event(
            incident.number,
            EventKind.POSTMORTEM_EXPORTED,
            user,
            f"Postmortem exported to {where}",
            where=where,
        )

    async def add_followup(self, incident: Incident, user: str, text: str) -> int:
        """Record a follow-up action item; return its number among the incident's follow-ups."""
        await self.record_event(
            incident.number, EventKind.FOLLOWUP, user, text, participants=[user]
        )
        events = await self.store.timeline(incident.number)
        return sum(e.kind is EventKind.FOLLOWUP and e.deleted_at is None for e in events)

    async def share_postmortem(self, incident: Incident, user: str, markdown: str) -> str:
        """Upload the postmortem to the incident's channel, or post it as a message where the
        platform refuses uploads; record the export either way. Returns "upload" or "message"."""
        channel_id = incident.channel_id
        if channel_id is None:
            raise UsageError(messages.not_in_incident_channel("postmortem"))
        chat = self.chats[incident.platform]
        filename = f"{incident.ref.lower()}-postmortem.md"
        try:
            await chat.upload(
                channel_id, filename, markdown.encode("utf-8"), f"{incident.ref} postmortem"
            )
            how = "upload"
        except UploadNotAllowed:
            log.info("upload refused on %s; posting %s postmortem", incident.platform, incident.ref)
            # Long documents go out as several messages: platforms cap a message's size.
            for piece in split_message(markdown):
                await chat.post(channel_id, piece)
            how = "message"
        await self.mark_exported(incident, user, f"chat {how}")
        return how

    async def record_message(
        self,
        platform: str,
        channel_id: str,
        user: str,
        text: str,
        *,
        occurred_at: datetime | None = None,
        source_key: str | None = None,
    ) -> bool:
        """Put a channel message on its incident's timeline; False if not an incident channel
        or already recorded (same source_key). Writes are batched under load (see ingest)."""
        return await self.ingest.add(
            IncomingMessage(platform, channel_id, user, text, occurred_at, source_key)
        )

    async def edit_message(self, source_key: str, text: str) -> bool:
        """A recorded chat message was edited: the timeline follows it (keeping the original
        text in data, so the postmortem can show what was said at the time)."""
        event = await self.store.get_event(source_key)
        if event is None:
            return False
        if text == event.text:
            return True
        original = {} if "original_text" in event.data else {"original_text": event.text}
        await self.store.update_event(source_key, text=text, data={**original, "edited": True})
        return True

    async def delete_message(self, source_key: str) -> bool:
        """A recorded chat message was deleted: mark it (exports leave it out)."""
        return await self.store.update_event(source_key, deleted_at=self.clock.now()) is not None

    async def highlight(self, source_key: str, by: str) -> bool:
        """Mark a recorded message as a highlight (a :pushpin: reaction or a pin)."""
        event = await self.store.update_event(
            source_key, data={"highlight": True, "highlighted_by": by}
        )
        return event is not None
