"""Declaring an incident, and setting up its channel in a way that can be re-run.

The declaration (incident row, first events, commander) is committed before any chat call, so a
chat failure loses nothing; `ensure_channel` then skips each step whose result the store already
has, and calling it again after a crash finishes the set-up without duplicates.
"""

from __future__ import annotations

from bot.core import engine, views
from bot.core.commands import Declare
from bot.core.desk import IncidentDesk
from bot.core.model import (
    Change,
    EventKind,
    Incident,
    Invocation,
    Participant,
    RoleAssignment,
    Severity,
    State,
)
from bot.core.naming import channel_name
from bot.core.ports import Channel, ChannelNameTaken

DEFAULT_SEVERITY = Severity.SEV3
MAX_NAME_ATTEMPTS = 20


class Declarer:
    def __init__(self, desk: IncidentDesk) -> None:
        self.desk = desk

    async def declare(
        self, ctx: Invocation, cmd: Declare, description: str | None = None
    ) -> Incident:
        d = self.desk
        now = d.clock.now()
        loaded = d.runner.choose(cmd) if d.runner is not None else None
        incident = await d.store.create_incident(
            Incident(
                number=0,
                title=cmd.title,
                severity=cmd.severity or DEFAULT_SEVERITY,
                state=State.INVESTIGATING,
                declared_at=now,
                declared_by=ctx.user,
                platform=ctx.platform,
                service=cmd.service,
                private=cmd.private or bool(loaded and loaded.playbook.private),
                description=description,
                playbook=loaded.playbook.name if loaded else None,
                playbook_hash=loaded.content_hash if loaded else None,
            )
        )
        n = incident.number
        commander = cmd.commander or ctx.user
        await d.store.commit(
            Change(
                events=[
                    d.timeline_event(
                        n,
                        EventKind.DECLARED,
                        ctx.user,
                        f"Declared: {cmd.title}",
                        now,
                        severity=incident.severity.value,
                        service=cmd.service,
                        private=incident.private,
                        playbook=incident.playbook,
                        playbook_hash=incident.playbook_hash,
                    ),
                    d.timeline_event(
                        n,
                        EventKind.ROLE_ASSIGNED,
                        ctx.user,
                        f"{commander} is commander",
                        now,
                        role="commander",
                        user=commander,
                    ),
                ],
                roles=[RoleAssignment(n, "commander", commander, now, ctx.user)],
                participants=[
                    Participant(n, user, now) for user in dict.fromkeys([ctx.user, commander])
                ],
            )
        )
        await self.ensure_channel(incident)
        await d.playbook_event(incident, engine.Declared())
        return incident

    async def ensure_channel(self, incident: Incident) -> Channel:
        """Create the incident's channel and post into it, skipping what already exists."""
        d = self.desk
        chat = d.chats[incident.platform]
        if incident.channel_id and incident.channel_name:
            return Channel(incident.channel_id, incident.channel_name)
        channel = None
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            try:
                channel = await chat.create_channel(
                    channel_name(incident.number, incident.title, attempt=attempt),
                    private=incident.private,
                )
                break
            except ChannelNameTaken:
                continue
        if channel is None:
            raise RuntimeError(
                f"no free channel name for {incident.ref} in {MAX_NAME_ATTEMPTS} tries"
            )
        incident.channel_id, incident.channel_name = channel.id, channel.name
        await d.store.commit(Change(incident=incident))
        commander = await d.commander(incident)
        await chat.invite(
            channel, list(dict.fromkeys(u for u in (incident.declared_by, commander) if u))
        )
        await chat.set_topic(channel, views.topic(incident, commander))
        if incident.summary_message_id is None:
            incident.summary_message_id = await chat.post(
                channel.id, views.summary(incident, commander)
            )
            await d.store.commit(Change(incident=incident))
            await chat.pin(channel.id, incident.summary_message_id)
        if d.announce_channel and not incident.private:
            link = chat.channel_link(channel)
            await chat.post(d.announce_channel, views.announcement(incident, link))
        return channel
