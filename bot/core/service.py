"""IncidentService: every change to an incident, through the ports only.

Each public method persists one atomic Change (the incident row plus its timeline events) before
it talks to chat, so a chat failure never loses what was recorded, and re-running the chat side
(`ensure_channel`) after a crash finds the state it needs in the store.

The service is the one object adapters, the router and the runner hold: it is the IncidentDesk
(ports and shared acts, bot/core/desk.py) and hands each change to the module that owns it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from bot.core import messages
from bot.core.access import Access
from bot.core.commands import Declare, UsageError
from bot.core.declare import DEFAULT_SEVERITY, MAX_NAME_ATTEMPTS, Declarer
from bot.core.desk import IncidentDesk
from bot.core.ingest import IncomingMessage, TimelineIngest
from bot.core.lifecycle import Lifecycle
from bot.core.model import (
    Incident,
    IncidentOverview,
    IncidentRecord,
    Invocation,
    Severity,
    State,
    Task,
)
from bot.core.ownership.answer import oncall_answer
from bot.core.ports import Channel, Chat, Clock, Store
from bot.core.responders import Responders
from bot.core.sharing import Sharing
from bot.core.tasks import TaskList
from bot.core.timeline import Timeline

DEFAULT_ROLES = ("commander", "comms", "scribe", "ops")

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
        announce_channels: Mapping[str, str] | None = None,
        roles: Sequence[str] = DEFAULT_ROLES,
        admins: Iterable[str] = (),
    ) -> None:
        self.store = store
        self.chats = chats
        self.clock = clock
        self.announce_channel = announce_channel  # for every platform without its own
        self.announce_channels = dict(announce_channels or {})
        self.roles = tuple(roles)
        self.runner = None  # the composition root sets it when playbooks are loaded
        self.ingest = TimelineIngest(store, clock)
        # The modules changes are handed to; each holds this service as its desk.
        self.declarer = Declarer(self)
        self.lifecycle = Lifecycle(self)
        self.responders = Responders(self)
        self.task_list = TaskList(self)
        self.timeline = Timeline(self)
        self.sharing = Sharing(self)
        self.access = Access(self, admins)

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

    async def overview(self, incident: Incident) -> IncidentOverview:
        return IncidentOverview(
            incident=incident,
            roles=await self.store.roles(incident.number),
            status_updates=await self.store.status_updates(incident.number),
        )

    # -- declaring: bot/core/declare.py ----------------------------------------------------

    async def declare(
        self, ctx: Invocation, cmd: Declare, description: str | None = None
    ) -> Incident:
        return await self.declarer.declare(ctx, cmd, description)

    async def ensure_channel(self, incident: Incident) -> Channel:
        return await self.declarer.ensure_channel(incident)

    # -- status, severity, state: bot/core/lifecycle.py ------------------------------------

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

    # -- roles and paging: bot/core/responders.py ------------------------------------------

    async def assign_role(self, incident: Incident, by: str, role: str, user: str) -> None:
        await self.responders.assign_role(incident, by, role, user)

    async def page_user(
        self, incident: Incident, by: str, user: str, *, say_if_here: bool = True
    ) -> None:
        await self.responders.page_user(incident, by, user, say_if_here=say_if_here)

    async def acknowledge_page(self, incident: Incident, user: str) -> str:
        """A page's Acknowledge button or /incident ack (bot/core/paging.py decides)."""
        if self.runner is None:
            raise UsageError(messages.no_catalog_oncall())
        return await self.runner.pager.acknowledge(incident, user)

    def oncall_text(self, target: str, incident: Incident | None = None) -> str:
        """`/incident oncall [TEAM|SERVICE]`: who, until when, who next."""
        catalog = self.runner.catalog if self.runner is not None else None
        if catalog is None:
            return messages.no_catalog_oncall()
        if not target:
            return messages.usage("oncall")
        return oncall_answer(catalog, target, self.clock.now())

    # -- tasks and follow-ups: bot/core/tasks.py -------------------------------------------

    async def add_task(self, incident: Incident, user: str, title: str) -> Task:
        return await self.task_list.add_task(incident, user, title)

    async def change_task(
        self, incident: Incident, user: str, action: str, position_text: str
    ) -> Task:
        return await self.task_list.change_task(incident, user, action, position_text)

    async def add_followup(self, incident: Incident, user: str, text: str) -> int:
        return await self.task_list.add_followup(incident, user, text)

    # -- the timeline: bot/core/timeline.py (new messages: bot/core/ingest.py) -------------

    async def add_note(self, incident: Incident, user: str, text: str) -> None:
        await self.timeline.add_note(incident, user, text)

    async def record_message(
        self,
        platform: str,
        channel_id: str,
        user: str,
        text: str,
        *,
        occurred_at: datetime | None = None,
        source_key: str | None = None,
        inbox_key: str | None = None,
    ) -> bool:
        """Put a channel message on its incident's timeline; False if not an incident channel
        or already recorded (same source_key). Writes are batched under load (see ingest)."""
        return await self.ingest.add(
            IncomingMessage(platform, channel_id, user, text, occurred_at, source_key, inbox_key)
        )

    async def edit_message(self, source_key: str, text: str) -> bool:
        return await self.timeline.edit_message(source_key, text)

    async def delete_message(self, source_key: str) -> bool:
        return await self.timeline.delete_message(source_key)

    async def highlight(self, source_key: str, by: str) -> bool:
        return await self.timeline.highlight(source_key, by)

    # -- the postmortem: bot/core/sharing.py -----------------------------------------------

    async def share_postmortem(self, incident: Incident, user: str, markdown: str) -> str:
        return await self.sharing.share_postmortem(incident, user, markdown)

    async def mark_exported(self, incident: Incident, user: str, where: str) -> None:
        await self.sharing.mark_exported(incident, user, where)
