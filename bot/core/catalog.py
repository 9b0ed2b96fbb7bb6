"""The service catalog: who owns which service and who is on call for each team.

Parsed YAML arrives here as a mapping (bot/playbooks/catalog_loader.py keeps the positions);
lookups are by key, never a scan, so a catalog of thousands of services stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import Field, PrivateAttr

from bot.core.messages import did_you_mean
from bot.core.playbook import Duration, Name, Spec
from bot.core.playbook_check import Finding


class Team(Spec):
    name: Name
    members: list[str] = []
    oncall: list[str] = Field(default=[], description="who is on call now (first: primary)")
    escalation: list[str] = Field(default=[], description="paged when nobody acknowledges in time")
    escalate_after: Duration = timedelta(minutes=15)


class Service(Spec):
    name: Name
    owner: Name
    tier: int | None = Field(None, ge=0, le=4)
    runbook: str | None = None
    dependencies: list[Name] = []


class Catalog(Spec):
    teams: list[Team] = []
    services: list[Service] = []
    _teams: dict[str, Team] = PrivateAttr(default_factory=dict)
    _services: dict[str, Service] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: object) -> None:
        self._teams = {t.name: t for t in self.teams}
        self._services = {s.name: s for s in self.services}

    def team(self, name: str) -> Team | None:
        return self._teams.get(name)

    def service(self, name: str | None) -> Service | None:
        return self._services.get(name) if name else None

    def owner_of(self, service: str | None) -> Team | None:
        found = self.service(service)
        return self.team(found.owner) if found else None

    def resolve(self, target: str) -> Resolved | None:
        """A team or service name -> the people to bring in (on-call first, else members)."""
        name = target.lstrip("@#")
        team = self.team(name)
        via = None
        if team is None and (service := self.service(name)) is not None:
            team, via = self.team(service.owner), service.name
        if team is None:
            return None
        users = tuple(team.oncall or team.members)
        return Resolved(team.name, users, via)

    def suggestion(self, target: str) -> str:
        return did_you_mean(target, [*self._teams, *self._services])


@dataclass(frozen=True)
class Resolved:
    team: str
    users: tuple[str, ...]
    via_service: str | None = None

    def describe(self) -> str:
        how = f"{self.team} (owner of {self.via_service})" if self.via_service else self.team
        return f"{how} on call: " + (", ".join(f"@{u}" for u in self.users) or "nobody")


def check_catalog(catalog: Catalog) -> list[Finding]:
    findings: list[Finding] = []
    for kind, names in (
        ("teams", [t.name for t in catalog.teams]),
        ("services", [s.name for s in catalog.services]),
    ):
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                findings.append(Finding((kind, i, "name"), f"duplicate name '{name}'"))
            seen.add(name)
    teams = [t.name for t in catalog.teams]
    services = [s.name for s in catalog.services]
    for i, service in enumerate(catalog.services):
        if service.owner not in teams:
            findings.append(
                Finding(
                    ("services", i, "owner"),
                    f"undefined team '{service.owner}'.{did_you_mean(service.owner, teams)}",
                )
            )
        for d, dependency in enumerate(service.dependencies):
            if dependency not in services:
                findings.append(
                    Finding(
                        ("services", i, "dependencies", d),
                        f"undefined service '{dependency}'.{did_you_mean(dependency, services)}",
                    )
                )
    for i, team in enumerate(catalog.teams):
        if not team.oncall and not team.members:
            findings.append(
                Finding(
                    ("teams", i), f"team '{team.name}' has nobody to page: list oncall or members"
                )
            )
    return findings
