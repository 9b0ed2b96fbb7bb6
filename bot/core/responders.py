"""Who works an incident: assigning roles and paging people into its channel."""

from __future__ import annotations

from bot.core import messages, views
from bot.core.commands import UsageError
from bot.core.desk import IncidentDesk
from bot.core.model import EventKind, Incident, RoleAssignment


class Responders:
    def __init__(self, desk: IncidentDesk) -> None:
        self.desk = desk

    async def assign_role(self, incident: Incident, by: str, role: str, user: str) -> None:
        d = self.desk
        roles = d.roles_for(incident)
        if role not in roles:
            raise UsageError(messages.unknown_role(role, roles))
        allowed = d.runner.allowed_holders(incident, role) if d.runner else None
        if allowed is not None and user not in allowed:
            raise UsageError(messages.role_not_allowed(role, user, allowed))
        current = views.current_roles(await d.store.roles(incident.number))
        if current.get(role) == user:
            raise UsageError(f"Nothing to change: {user} is already {role}.")
        now = d.clock.now()
        await d.record_response(
            incident,
            EventKind.ROLE_ASSIGNED,
            by,
            f"{user} is {role}",
            at=now,
            roles=[RoleAssignment(incident.number, role, user, now, by)],
            participants=[user],
            role=role,
            user=user,
            previous=current.get(role),
        )
        chat = d.chats[incident.platform]
        channel = d.channel_of(incident)
        if channel is not None:
            await chat.invite(channel, [user])
        await d.post(incident, f"{user} is now {role} (assigned by {by}).")
        if role == "commander":
            await d.refresh(incident)

    async def page_user(
        self, incident: Incident, by: str, user: str, *, say_if_here: bool = True
    ) -> None:
        d = self.desk
        if d.runner is not None:
            # Direct message with an Acknowledge button, repeats recorded only: bot/core/paging.py
            await d.runner.pager.page_person(incident, by, user)
            return
        if user in {p.user for p in await d.store.participants(incident.number)}:
            # A playbook inviting its commander stays quiet; a person paging is told.
            if say_if_here:
                await d.post(incident, messages.already_here(user))
            return
        await d.record_event(
            incident.number, EventKind.PAGED, by, f"Paged {user}", participants=[user], target=user
        )
        channel = d.channel_of(incident)
        if channel is not None:
            await d.chats[incident.platform].invite(channel, [user])
        await d.post(incident, f"{by} paged {user} into this incident.")
