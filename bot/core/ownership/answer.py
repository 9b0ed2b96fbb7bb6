"""The answer to "who is on call for X?", shared by `warroom oncall` and `/incident oncall`.

The first line starts with the person on call (`@bob until Mon 30 Mar 09:00 Europe/Zagreb,
then @carol`); scripts read that line."""

from __future__ import annotations

from datetime import datetime

from bot.core.commands import UsageError
from bot.core.ownership.model import Catalog
from bot.core.ownership.oncall import OnCall, describe, team_zone
from bot.core.ownership.resolve import unknown


def oncall_answer(catalog: Catalog, target: str, at: datetime) -> str:
    name = target.lstrip("@#")
    team = catalog.team(name)
    service = catalog.service(name) if team is None else None
    if service is not None:
        team = catalog.team(service.owner)
    if team is None:
        raise UsageError(unknown(catalog, target))
    now, following = OnCall(catalog).now_and_next(team, at)
    if now.who is None and not team.has_oncall_setup:
        first = ", ".join(f"@{m}" for m in team.members) or "nobody"
        first += " (no rotation: every member is paged)"
    else:
        first = describe(now, following, team_zone(team, catalog))
    about = f"{team.name} on call" + (f" (owner of {service.name})" if service else "")
    return f"{first}\n{about}; from {now.why}"
