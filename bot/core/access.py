"""Who may see an incident and who may steer it.

A private incident exists, for anyone but its members and the installation's admins, only as
"INC-N is private". An incident belongs to the platform it was declared on: user names and ids
mean different people on different platforms, so another platform's users see it only as
admins. Anyone who can see an incident may talk in it (status updates, notes, tasks,
follow-ups, pages); severity, state, resolving, reopening and roles belong to the commander,
the roles the playbook's `permissions:` names for each, and admins.

The checks raise Refused (a UsageError), so the router answers them like any other mistake:
one line, only to the user, and nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from bot.core import messages, views
from bot.core.commands import UsageError
from bot.core.model import Incident, Invocation

if TYPE_CHECKING:
    from bot.core.desk import IncidentDesk

# What a playbook's `permissions:` governs; everything else is open to every member.
STEERING = ("severity", "state", "resolve", "reopen", "roles")


class Refused(UsageError):
    """The user may not do this (or may not know the incident exists); nothing changed."""


class Access:
    def __init__(self, desk: IncidentDesk, admins: Iterable[str] = ()) -> None:
        self.desk = desk
        self.admins = frozenset(a.strip().lstrip("@") for a in admins if a.strip())

    def is_admin(self, ctx: Invocation) -> bool:
        """WARROOM_ADMINS names a user as on every platform (`alice`, `U0123ABCD`) or on one
        (`slack:U0123ABCD`, `mattermost:alice`)."""
        return ctx.user in self.admins or f"{ctx.platform}:{ctx.user}" in self.admins

    async def is_member(self, ctx: Invocation, incident: Incident) -> bool:
        """In the incident's channel (only members can type there), its declarer, or someone
        it recorded: participants include every role holder, paged and invited person and
        everyone who spoke in the channel."""
        if ctx.platform != incident.platform:
            return False
        if incident.channel_id is not None and ctx.channel_id == incident.channel_id:
            return True
        if ctx.user == incident.declared_by:
            return True
        store = self.desk.store
        if any(p.user == ctx.user for p in await store.participants(incident.number)):
            return True
        return ctx.user in views.current_roles(await store.roles(incident.number)).values()

    async def can_see(self, ctx: Invocation, incident: Incident) -> bool:
        if self.is_admin(ctx):
            return True
        if ctx.platform != incident.platform:
            return False
        return not incident.private or await self.is_member(ctx, incident)

    async def require_visible(self, ctx: Invocation, incident: Incident) -> None:
        if await self.can_see(ctx, incident):
            return
        if incident.private:
            raise Refused(messages.private_incident(incident.ref))
        raise Refused(messages.other_platform(incident.ref, incident.platform))

    async def visible(
        self, ctx: Invocation, incidents: Sequence[Incident]
    ) -> tuple[list[Incident], int]:
        """The incidents this user may see, and how many private ones were left out."""
        shown: list[Incident] = []
        hidden_private = 0
        for incident in incidents:
            if await self.can_see(ctx, incident):
                shown.append(incident)
            elif incident.private:
                hidden_private += 1
        return shown, hidden_private

    async def require(self, ctx: Invocation, incident: Incident, action: str) -> None:
        """Refuse a steering action (severity, state, resolve, reopen, roles) to anyone but
        the commander, the roles the playbook permits and admins."""
        if self.is_admin(ctx):
            return
        allowed = ("commander", *self.desk.permissions_for(incident, action))
        allowed = tuple(dict.fromkeys(allowed))
        holders = views.current_roles(await self.desk.store.roles(incident.number))
        if any(holders.get(role) == ctx.user for role in allowed):
            return
        raise Refused(
            messages.not_permitted(action, incident.ref, [(r, holders.get(r)) for r in allowed])
        )

    def require_acknowledger(self, ctx: Invocation, paged_user: str) -> None:
        """A page is acknowledged by the person paged, nobody else (an Acknowledge button
        forwarded or pressed in a shared view must not stop the escalation)."""
        if ctx.user != paged_user:
            raise Refused(messages.not_your_page(paged_user))
