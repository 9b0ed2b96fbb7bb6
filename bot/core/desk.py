"""IncidentDesk: the ports every change to an incident goes through, and the small acts that
changes are made of (record a timeline event, post in the channel, announce, refresh the topic and
pinned summary, hand an event to the playbook runner).

IncidentService is the desk and sets these attributes up (bot/core/service.py). The modules it
hands changes to (declare, lifecycle, responders, tasks, timeline, sharing) and the playbook runner
and pager all hold that one object, so a port swapped on the service (tests do) is the port they
all use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core import engine, views
from bot.core.model import (
    Change,
    EventKind,
    Incident,
    Participant,
    RoleAssignment,
    StatusUpdate,
    Task,
    TimelineEvent,
)
from bot.core.ports import Channel, Chat, Clock, Posting, Store

if TYPE_CHECKING:
    from bot.core.runner import PlaybookRunner


@dataclass
class Known:
    """What the caller of `playbook_event` knows of the incident already, so the runner does
    not read it back: a declaration knows its commander and that it has no tasks and no
    status update yet. With `hold_incident` the caller writes the incident row itself once
    the event is handled (a declaration in one transaction writes it once, at its end), so
    the runner changes the row in memory only."""

    commander: str | None
    tasks: list[Task] = field(default_factory=list)
    last_status_at: datetime | None = None  # None: no status update yet
    hold_incident: bool = False


class IncidentDesk:
    store: Store
    chats: Mapping[str, Chat]
    clock: Clock
    announce_channel: str | None  # any platform's, unless announce_channels names its own
    announce_channels: Mapping[str, str]
    roles: tuple[str, ...]  # the installation's; a playbook may name its own (roles_for)
    # Set by the composition root when playbooks are loaded (bot/core/runner.py).
    runner: PlaybookRunner | None

    # -- recording -------------------------------------------------------------------------

    def timeline_event(
        self, number: int, kind: EventKind, actor: str, text: str, at: datetime, /, **data: object
    ) -> TimelineEvent:
        return TimelineEvent(
            number,
            kind,
            actor,
            text,
            occurred_at=at,
            recorded_at=self.clock.now(),
            data={k: v for k, v in data.items() if v is not None},
        )

    async def record_event(
        self,
        number: int,
        kind: EventKind,
        actor: str,
        text: str,
        /,
        *,
        at: datetime | None = None,
        incident: Incident | None = None,
        participants: Iterable[str] = (),
        roles: Sequence[RoleAssignment] = (),
        status_updates: Sequence[StatusUpdate] = (),
        tasks: Sequence[Task] = (),
        **data: object,
    ) -> None:
        """Commit one timeline event, atomically with the rest of its Change: the incident row,
        `participants` (user names, joining at `at`), roles, status updates and tasks. The other
        keywords are the event's data (None values left out)."""
        now = at or self.clock.now()
        await self.store.commit(
            Change(
                incident=incident,
                events=[self.timeline_event(number, kind, actor, text, now, **data)],
                roles=list(roles),
                participants=[Participant(number, user, now) for user in participants],
                status_updates=list(status_updates),
                tasks=list(tasks),
            )
        )

    async def record_response(
        self,
        incident: Incident,
        kind: EventKind,
        actor: str,
        text: str,
        /,
        *,
        at: datetime | None = None,
        **rest: Any,
    ) -> None:
        """Record a responder's change to the incident (status, severity, role, task): the
        incident row goes in with its event, acknowledged if this is the first such change.
        `rest` is as for record_event."""
        now = at or self.clock.now()
        self.acknowledge(incident, now)
        await self.record_event(
            incident.number, kind, actor, text, at=now, incident=incident, **rest
        )

    @staticmethod
    def acknowledge(incident: Incident, now: datetime) -> None:
        # The first responder action after declaring (status update, state, severity or task
        # change, role assignment) is when someone demonstrably started working on it.
        if incident.acknowledged_at is None:
            incident.acknowledged_at = now

    # -- lookups ---------------------------------------------------------------------------

    async def commander(self, incident: Incident) -> str | None:
        return views.current_roles(await self.store.roles(incident.number)).get("commander")

    @staticmethod
    def channel_of(incident: Incident) -> Channel | None:
        if incident.channel_id and incident.channel_name:
            return Channel(incident.channel_id, incident.channel_name)
        return None

    def permissions_for(self, incident: Incident, action: str) -> tuple[str, ...]:
        """Roles besides the commander that may take a steering action (bot/core/access.py):
        what the incident's playbook says under `permissions:`, none without one."""
        return self.runner.permissions_for(incident, action) if self.runner is not None else ()

    def roles_for(self, incident: Incident) -> tuple[str, ...]:
        """Roles of the incident's playbook; the installation's defaults without one."""
        roles = self.runner.roles_for(incident) if self.runner is not None else None
        return roles or self.roles

    # -- saying ----------------------------------------------------------------------------

    async def post(self, incident: Incident, text: str) -> None:
        """Post in the incident's channel; nothing happens until it has one."""
        if incident.channel_id:
            await self.chats[incident.platform].post(incident.channel_id, text)

    async def post_many(self, platform: str, postings: Sequence[Posting]) -> None:
        """Many posts on one platform at once: in one call where the chat takes them so (the
        outbox: one statement), else one by one."""
        chat = self.chats[platform]
        many = getattr(chat, "post_many", None)
        if many is not None:
            await many(postings)
            return
        for posting in postings:
            await chat.post(posting.channel_id, posting.text)

    def announce_channel_for(self, platform: str) -> str | None:
        """Where a platform's incidents are announced (a Slack id, a Mattermost name)."""
        return self.announce_channels.get(platform) or self.announce_channel

    async def announce(self, incident: Incident, text: str) -> None:
        channel = self.announce_channel_for(incident.platform)
        if channel and not incident.private:
            await self.chats[incident.platform].post(channel, text)

    async def refresh(self, incident: Incident) -> None:
        """Bring the channel topic and the pinned summary up to date."""
        channel = self.channel_of(incident)
        if channel is None:
            return
        chat = self.chats[incident.platform]
        commander = await self.commander(incident)
        await chat.set_topic(channel, views.topic(incident, commander))
        if incident.summary_message_id:
            moved = await chat.update(
                channel.id, incident.summary_message_id, views.summary(incident, commander)
            )
            if moved and moved != incident.summary_message_id:
                # Posted again (the edit window passed): later edits go to the new one.
                incident.summary_message_id = moved
                await self.store.commit(Change(incident=incident))

    # -- playbooks -------------------------------------------------------------------------

    async def playbook_event(
        self, incident: Incident, event: engine.Event, known: Known | None = None
    ) -> None:
        """Let the incident's playbook react (nothing to do without playbooks). Inside a
        command's transaction on a database, the reaction is an outbox row (`react_later`)
        run once the command has committed and its posts have gone: the channel hears of a
        change without waiting for the playbook, and a reaction cut off by a crash is run by
        whichever replica claims the row. A declaration's reaction (`known`) is part of its
        set-up and runs here."""
        if self.runner is None:
            return
        later = getattr(self.chats.get(incident.platform), "react_later", None)
        if known is None and later is not None and not isinstance(event, engine.Declared):
            if await later(incident, engine.event_data(event)):
                return
        await self.runner.on_event(incident, event, known)
