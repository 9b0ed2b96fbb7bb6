"""A team or service name -> the team and the people to bring in, at a given time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.messages import did_you_mean

if TYPE_CHECKING:
    from bot.core.ownership.model import Catalog, Team


@dataclass(frozen=True)
class Resolved:
    team: str
    users: tuple[str, ...]  # catalog names, on-call first
    via_service: str | None = None

    def describe(self) -> str:
        how = f"{self.team} (owner of {self.via_service})" if self.via_service else self.team
        return f"{how} on call: " + (", ".join(f"@{u}" for u in self.users) or "nobody")


def people_to_page(catalog: Catalog, team: Team, at: datetime | None) -> tuple[str, ...]:
    """Who is on call at `at` (rotations, calendar, overrides); without a time, or for a team
    with no on-call set up at all, the fixed on-call else the members."""
    if at is not None and team.has_oncall_setup:
        from bot.core.ownership.oncall import OnCall

        who, _ = OnCall(catalog).at(team, at)
        return (who,) if who else ()
    return tuple(team.oncall or team.members)


def resolve(catalog: Catalog, target: str, at: datetime | None = None) -> Resolved | None:
    name = target.lstrip("@#")
    team = catalog.team(name)
    via = None
    if team is None and (service := catalog.service(name)) is not None:
        team, via = catalog.team(service.owner), service.name
    if team is None:
        return None
    return Resolved(team.name, people_to_page(catalog, team, at), via)


def unknown(catalog: Catalog, target: str, *, services_only: bool = False) -> str:
    """`no such service 'chekout'; did you mean 'checkout'?`"""
    name = target.lstrip("@#")
    choices = list(catalog._services) if services_only else catalog.names()
    what = "service" if services_only else "team or service"
    hint = did_you_mean(name, choices)
    suggestion = f"; did you mean {hint.strip().removeprefix('Did you mean ')}" if hint else "."
    return f"no such {what} '{name}'{suggestion}"
