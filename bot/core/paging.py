"""Paging through the service catalog: teams and services -> on-call people, escalation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core import messages
from bot.core.catalog import Catalog
from bot.core.clock import format_duration
from bot.core.commands import UsageError
from bot.core.model import Incident, Reminder
from bot.core.ports import Reminders

if TYPE_CHECKING:
    from bot.core.service import IncidentService

ESCALATE = "escalate"


class Pager:
    def __init__(
        self, service: IncidentService, reminders: Reminders, catalog: Catalog | None
    ) -> None:
        self.service = service
        self.reminders = reminders
        self.catalog = catalog

    async def page_target(
        self, incident: Incident, by: str, target: str, *, say_if_here: bool = True
    ) -> None:
        """Page a team or service's on-call (UsageError when the catalog does not know it)."""
        if self.catalog is None:
            raise UsageError(messages.no_catalog_for([target]))
        resolved = self.catalog.resolve(target)
        if resolved is None:
            raise UsageError(messages.unknown_team(target, self.catalog.suggestion(target)))
        here = {p.user for p in await self.service.store.participants(incident.number)}
        new = [user for user in resolved.users if user not in here]
        if not new:
            # The catalog and a playbook may both ask for the same team: quiet then; a person
            # who typed the command is told why nothing happened.
            if say_if_here:
                await self.service.post(incident, messages.already_paged(resolved.describe()))
            return
        await self.service.post(incident, f"Paging {resolved.describe()}.")
        for user in new:
            await self.service.page_user(incident, by, user)

    async def page_quietly(self, incident: Incident, target: str) -> None:
        # A playbook's page must not fail the command that triggered it: say what went wrong.
        try:
            await self.page_target(incident, "warroom", target, say_if_here=False)
        except UsageError as error:
            await self.service.post(incident, str(error))

    async def bring_in_owner(self, incident: Incident) -> None:
        """The owning team's on-call joins; escalation follows if nobody acknowledges."""
        team = self.catalog.owner_of(incident.service) if self.catalog else None
        if team is None:
            return
        await self.page_target(incident, "warroom", team.name)
        if team.escalation:
            await self.reminders.schedule(
                Reminder(
                    incident.number,
                    ESCALATE,
                    incident.declared_at + team.escalate_after,
                    "",
                    data={"team": team.name},
                    key=f"{incident.ref}:escalate",
                )
            )

    async def escalate(self, incident: Incident, reminder: Reminder) -> str | None:
        team = self.catalog.team(reminder.data.get("team", "")) if self.catalog else None
        if team is None or incident.acknowledged_at is not None or not incident.is_open:
            return None
        after = format_duration(team.escalate_after)
        text = messages.escalating(incident.ref, team.name, after, team.escalation)
        await self.service.post(incident, text)
        for user in team.escalation:
            await self.service.page_user(incident, "warroom", user)
        return text
