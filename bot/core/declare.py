"""Declaring an incident, and setting up its channel in a way that can be re-run.

The declaration (incident row, first events, commander) is committed before any chat call, so a
chat failure loses nothing; `ensure_channel` then skips each step whose result the store already
has, and calling it again after a crash finishes the set-up without duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from bot.core import engine, messages, views
from bot.core.commands import Declare, UsageError
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
from bot.core.ownership.resolve import unknown
from bot.core.ports import Channel, ChannelNameTaken

DEFAULT_SEVERITY = Severity.SEV3


class DeclarationIncomplete(Exception):
    """The incident was recorded but setting up its channel failed; the message says so."""


MAX_NAME_ATTEMPTS = 20


class Declarer:
    def __init__(self, desk: IncidentDesk) -> None:
        self.desk = desk

    async def declare(
        self, ctx: Invocation, cmd: Declare, description: str | None = None
    ) -> Incident:
        d = self.desk
        now = d.clock.now()
        catalog = d.runner.catalog if d.runner is not None else None
        if cmd.service and catalog is not None and catalog.service(cmd.service) is None:
            raise UsageError(unknown(catalog, cmd.service, services_only=True))
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
                    replace(
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
                            # The playbook's roles as they were: the postmortem lists those
                            # nobody held without loading playbooks (which may have changed).
                            roles=list(loaded.playbook.role_names()) if loaded else None,
                        ),
                        source_key=declared_key(n),
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
        try:
            await self.finish(incident)
        except Exception as error:
            # The incident is recorded; only the chat set-up is incomplete. Say so, rather than
            # the generic failure, so nobody declares it a second time.
            raise DeclarationIncomplete(messages.declaration_incomplete(incident.ref)) from error
        return incident

    async def finish(self, incident: Incident) -> None:
        """Every step after the declaration is recorded: channel, announcement, playbook start.
        Each step is skipped when the store says it is done, so this can run again after a
        crash (see resume) without a second channel, announcement or checklist."""
        d = self.desk
        channel = await self.ensure_channel(incident)
        key = declared_key(incident.number)
        declared = await d.store.get_event(key)
        done = declared.data if declared is not None else {}
        if not done.get("announced"):
            chat = d.chats[incident.platform]
            announce_to = d.announce_channel_for(incident.platform)
            if announce_to and not incident.private:
                link = chat.channel_link(channel)
                await chat.post(announce_to, views.announcement(incident, link))
            elif announce_to and self._announce_private(incident):
                # Says that something is going on, never what: no title, service or channel.
                await chat.post(announce_to, views.private_announcement(incident))
            await d.store.update_event(key, data={"announced": True})
        if not done.get("playbook_started"):
            await d.playbook_event(incident, engine.Declared())
            await d.store.update_event(key, data={"playbook_started": True})

    def _announce_private(self, incident: Incident) -> bool:
        runner = self.desk.runner
        loaded = runner.loaded_for(incident) if runner is not None else None
        return bool(loaded and loaded.playbook.announce_private)

    async def resume(self, platforms: Iterable[str]) -> list[Incident]:
        """Finish the declarations a crash interrupted, for the platforms this process serves;
        the incidents it finished."""
        d = self.desk
        resumed = []
        for incident in await d.store.list_incidents(limit=10_000):
            if incident.platform not in platforms:
                continue
            declared = await d.store.get_event(declared_key(incident.number))
            if declared is None or declared.data.get("playbook_started"):
                continue  # declared before this marker existed, or finished
            await self.finish(incident)
            resumed.append(incident)
        return resumed

    async def ensure_channel(self, incident: Incident) -> Channel:
        """Create the incident's channel, invite, set the topic and pin the summary, skipping
        each step whose result the store already has."""
        d = self.desk
        chat = d.chats[incident.platform]
        if incident.channel_id and incident.channel_name:
            channel = Channel(incident.channel_id, incident.channel_name)
        else:
            channel = await self._create_channel(incident)
            incident.channel_id, incident.channel_name = channel.id, channel.name
            await d.store.commit(Change(incident=incident))
        commander = await d.commander(incident)
        # Inviting members again and setting the same topic are harmless on every platform.
        await chat.invite(
            channel, list(dict.fromkeys(u for u in (incident.declared_by, commander) if u))
        )
        await chat.set_topic(channel, views.topic(incident, commander))
        if incident.summary_message_id is None:
            incident.summary_message_id = await chat.post(
                channel.id, views.summary(incident, commander)
            )
            await d.store.commit(Change(incident=incident))
        # Pinning again is harmless, and re-running it covers a crash between post and pin.
        await chat.pin(channel.id, incident.summary_message_id)
        return channel

    async def _create_channel(self, incident: Incident) -> Channel:
        chat = self.desk.chats[incident.platform]
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            try:
                return await chat.create_channel(
                    channel_name(incident.number, incident.title, attempt=attempt),
                    private=incident.private,
                )
            except ChannelNameTaken:
                continue
        raise RuntimeError(f"no free channel name for {incident.ref} in {MAX_NAME_ATTEMPTS} tries")


def declared_key(number: int) -> str:
    """The source key of an incident's `declared` event, which also records which set-up
    steps are done."""
    return f"warroom:INC-{number}:declared"
