"""Checks across the catalog that the schema cannot make: dangling owners, dependencies and
names, with "did you mean". Each finding names the path of the offending value in the
native layout (("services", 3, "owner")); the loaders map it to a file, line and column."""

from __future__ import annotations

from bot.core.messages import did_you_mean
from bot.core.ownership.model import Catalog
from bot.core.playbook_check import Finding


def check_catalog(catalog: Catalog) -> list[Finding]:
    findings: list[Finding] = []
    for kind, names in (
        ("people", [p.name for p in catalog.people]),
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
    team_set, service_set = set(teams), set(services)
    # Anyone a catalog lists (as a person or a team member) is someone; a name on call or in
    # an escalation that is neither is a typo. A catalog that lists no people is not checked.
    people = {p.name for p in catalog.people}
    known = people | {m for t in catalog.teams for m in t.members}

    def person(loc: tuple[str | int, ...], name: str) -> None:
        if people and name not in known:
            findings.append(Finding(loc, f"undefined person '{name}'.{did_you_mean(name, people)}"))

    def team_ref(loc: tuple[str | int, ...], name: str) -> None:
        if name not in team_set:
            findings.append(Finding(loc, f"undefined team '{name}'.{did_you_mean(name, teams)}"))

    for i, service in enumerate(catalog.services):
        team_ref(("services", i, "owner"), service.owner)
        for d, dependency in enumerate(service.dependencies):
            if dependency not in service_set:
                findings.append(
                    Finding(
                        ("services", i, "dependencies", d),
                        f"undefined service '{dependency}'.{did_you_mean(dependency, services)}",
                    )
                )
    for i, team in enumerate(catalog.teams):
        for m, name in enumerate(team.oncall):
            person(("teams", i, "oncall", m), name)
        for r, layer in enumerate(team.rotation):
            for m, name in enumerate(layer.members):
                person(("teams", i, "rotation", r, "members", m), name)
        for o, override in enumerate(team.overrides):
            person(("teams", i, "overrides", o, "who"), override.who)
        if isinstance(team.escalation, list):
            for e, name in enumerate(team.escalation):
                person(("teams", i, "escalation", e), name)
        elif team.escalation is not None:
            for lv, level in enumerate(team.escalation.levels):
                for t, target in enumerate(level.targets):
                    loc = ("teams", i, "escalation", "levels", lv, "targets", t)
                    if target.person:
                        person((*loc, "person"), target.person)
                    if target.team:
                        team_ref((*loc, "team"), target.team)
        if not team.has_oncall_setup and not team.members:
            findings.append(
                Finding(
                    ("teams", i),
                    f"team '{team.name}' has nobody to page: list members, oncall or a rotation",
                )
            )
    for i, p in enumerate(catalog.people):
        for t, name in enumerate(p.teams):
            team_ref(("people", i, "teams", t), name)
    return findings
