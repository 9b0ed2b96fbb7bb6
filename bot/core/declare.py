"""Declaring an incident, and setting up its channel in a way that can be re-run.

The declaration (incident row, first events, commander) is committed before any chat call, so a
chat failure loses nothing; `ensure_channel` then skips each step whose result the store already
has, and calling it again after a crash finishes the set-up without duplicates.

Inside a store transaction (a command, with or without an outbox) the declaration and its
set-up commit together or not at all, so nothing needs recording step by step: the set-up
flags go into the declared event's INSERT, the incident row is written once at the end, and
what the declaration knows (its commander, no tasks yet) is not read back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.core import engine, messages, views
from bot.core.commands import Declare, UsageError
from bot.core.desk import IncidentDesk, Known
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
# The set-up steps after the declaration, as flags on its `declared` event (see finish).
SETUP_STEPS = ("announced", "playbook_started")


@dataclass
class _Fresh:
    """What a declaration knows while it sets up its incident: the commander, and whether it
    runs in one transaction (`whole`: each step's record would commit with all the others,
    so the incident row is written once and the flags were written with the event)."""

    commander: str
    whole: bool


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
        whole = d.store.in_transaction()
        # In one transaction the set-up is recorded done with the declaration: if a step
        # fails, nothing of it commits (see finish).
        done = dict.fromkeys(SETUP_STEPS, True) if whole else {}
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
                            **done,
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
            await self._finish(incident, _Fresh(commander, whole))
        except Exception as error:
            # The incident is recorded; only the chat set-up is incomplete. Say so, rather than
            # the generic failure, so nobody declares it a second time.
            raise DeclarationIncomplete(messages.declaration_incomplete(incident.ref)) from error
        return incident

    async def finish(self, incident: Incident) -> None:
        """Every step after the declaration is recorded: channel, announcement, playbook start.
        Each step is skipped when the store says it is done, so this can run again without a
        second channel, announcement or checklist. With an outbox every step is a row written
        in the declaration's own transaction, so a crash leaves undelivered rows, not a
        half-made declaration."""
        await self._finish(incident, None)

    async def _finish(self, incident: Incident, fresh: _Fresh | None) -> None:
        """`finish`; a `fresh` declaration has done no step yet, and knows its commander."""
        d = self.desk
        whole = fresh is not None and fresh.whole
        channel = await self._ensure_channel(incident, fresh)
        key = declared_key(incident.number)
        if fresh is None:
            declared = await d.store.get_event(key)
            done = declared.data if declared is not None else {}
        else:
            done = {}
        if not done.get("announced"):
            chat = d.chats[incident.platform]
            announce_to = d.announce_channel_for(incident.platform)
            if announce_to and not incident.private:
                link = chat.channel_link(channel)
                await chat.post(announce_to, views.announcement(incident, link))
            elif announce_to and self._announce_private(incident):
                # Says that something is going on, never what: no title, service or channel.
                await chat.post(announce_to, views.private_announcement(incident))
            if not whole:
                await d.store.update_event(key, data={"announced": True})
        if not done.get("playbook_started"):
            known = None
            if fresh is not None:
                known = Known(fresh.commander, hold_incident=whole)
            await d.playbook_event(incident, engine.Declared(), known)
            if not whole:
                await d.store.update_event(key, data={"playbook_started": True})
        if whole:
            # The channel, summary and checklist ids, in one write (held back since).
            await d.store.commit(Change(incident=incident))

    def _announce_private(self, incident: Incident) -> bool:
        runner = self.desk.runner
        loaded = runner.loaded_for(incident) if runner is not None else None
        return bool(loaded and loaded.playbook.announce_private)

    async def ensure_channel(self, incident: Incident) -> Channel:
        """Create the incident's channel, invite, set the topic and pin the summary, skipping
        each step whose result the store already has."""
        return await self._ensure_channel(incident, None)

    async def _ensure_channel(self, incident: Incident, fresh: _Fresh | None) -> Channel:
        """`ensure_channel`; a `fresh` declaration's commander is known, and in one
        transaction the incident row is left for `_finish` to write."""
        d = self.desk
        chat = d.chats[incident.platform]
        save = fresh is None or not fresh.whole
        if incident.channel_id and incident.channel_name:
            channel = Channel(incident.channel_id, incident.channel_name)
        else:
            channel = await self._create_channel(incident)
            incident.channel_id, incident.channel_name = channel.id, channel.name
            if save:
                await d.store.commit(Change(incident=incident))
        commander = fresh.commander if fresh is not None else await d.commander(incident)
        # Inviting members again and setting the same topic are harmless on every platform.
        await chat.invite(
            channel, list(dict.fromkeys(u for u in (incident.declared_by, commander) if u))
        )
        await chat.set_topic(channel, views.topic(incident, commander))
        if incident.summary_message_id is None:
            incident.summary_message_id = await chat.post(
                channel.id, views.summary(incident, commander)
            )
            if save:
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
