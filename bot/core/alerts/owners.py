"""The one place alert intake touches ownership, declaring and paging.

Everything alerts need from the rest of warroom goes through `Incidents`: look up a catalog
service, its owning team and who is on call, declare an incident, page a team. (A service's
open incident is a keyed lookup of the alert store: AlertStore.open_incident.) When
ownership changes shape (bot/core/catalog.py today) only this module follows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.catalog import Catalog
from bot.core.commands import Declare, UsageError
from bot.core.model import Incident, Invocation, Severity
from bot.core.ownership.resolve import people_to_page
from bot.core.paging import Pager
from bot.core.service import IncidentService

ALERTS_USER = "alerts"  # who alert-made changes are recorded as


@dataclass(frozen=True)
class Owner:
    team: str
    oncall: tuple[str, ...]  # on call now, first: primary (members when nobody is listed)


class Incidents:
    def __init__(
        self, service: IncidentService, catalog: Catalog | None, pager: Pager | None = None
    ) -> None:
        self.service = service
        self.catalog = catalog
        self.pager = pager

    # -- ownership ---------------------------------------------------------------------------

    def owner_team(self, service: str) -> str | None:
        """The team owning a catalog service; None when the catalog does not know it."""
        found = self.catalog.service(service) if self.catalog else None
        return found.owner if found else None

    def owner(self, team: str | None) -> Owner | None:
        """The team and who is on call for it now (rotations, calendar, overrides)."""
        found = self.catalog.team(team) if self.catalog and team else None
        if found is None or self.catalog is None:
            return None
        return Owner(found.name, people_to_page(self.catalog, found, self.service.clock.now()))

    def on_call(self, team: str | None, platform: str) -> str | None:
        """Who to direct-message for the team now: its primary on-call as `platform` names
        them (a Slack user id, a Mattermost username). None when the catalog does not know the
        team, the team has no on-call set up (members are not on call), or nobody is on call
        at this hour."""
        found = self.catalog.team(team) if self.catalog and team else None
        if found is None or self.catalog is None or not found.has_oncall_setup:
            return None
        who = people_to_page(self.catalog, found, self.service.clock.now())
        return self.catalog.handle(who[0], platform) if who else None

    def channel_for(self, service: str | None, team: str | None) -> str | None:
        """Where an offer for this service goes: the service's channel, else its team's."""
        if self.catalog is None:
            return None
        found = self.catalog.service(service)
        owner = self.catalog.team(team) if team else None
        return (found.channel if found else None) or (owner.channel if owner else None)

    # -- incidents ---------------------------------------------------------------------------

    async def declare(
        self,
        platform: str,
        by: str,
        title: str,
        severity: Severity,
        service: str,
        description: str | None = None,
    ) -> Incident:
        """Declare for the service; its owning team's on-call is commander and is paged."""
        owner = self.owner(self.owner_team(service))
        commander = owner.oncall[0] if owner and owner.oncall and by == ALERTS_USER else None
        incident = await self.service.declare(
            Invocation(by, platform),
            Declare(
                title=title,
                severity=severity,
                service=service,
                commander=commander,
                description=description,
            ),
        )
        if owner is not None:
            await self.page(incident, owner.team)
        return incident

    async def page(self, incident: Incident, team: str) -> None:
        """Page a team's on-call into the incident (nothing twice: the declaration may have
        paged them already)."""
        if self.pager is None:
            return
        try:
            await self.pager.page_target(incident, ALERTS_USER, team)
        except UsageError as error:
            await self.service.post(incident, str(error))
