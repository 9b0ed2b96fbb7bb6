"""Coverage: what would leave a page unanswered. Services without an owner, teams with
nobody on call at some time in the next N days, escalation policies that end in nobody."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.ownership.escalation import ends_in_nobody
from bot.core.ownership.model import Catalog
from bot.core.ownership.oncall import OnCall, team_zone


def _when(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M")


def coverage_gaps(catalog: Catalog, now: datetime, days: int = 14) -> list[str]:
    """One line per gap, in catalog order; empty when everything is covered."""
    lines: list[str] = []
    for service in catalog.services:
        if not service.owner or catalog.team(service.owner) is None:
            lines.append(f"service '{service.name}' has no owner")
    oncall = OnCall(catalog)
    end = now + timedelta(days=days)
    for team in catalog.teams:
        if team.has_oncall_setup:
            zone = team_zone(team, catalog)
            gaps = oncall.gaps(team, now, end)
            if gaps:
                spans = ", ".join(
                    f"{_when(g.start, zone)} to {_when(g.end, zone)}" for g in gaps[:5]
                )
                more = f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
                lines.append(
                    f"team '{team.name}': nobody on call {spans}{more} ({zone.key}); "
                    f"{len(gaps)} gap(s) in the next {days} days"
                )
        why = ends_in_nobody(catalog, oncall, team, now)
        if why:
            lines.append(why)
    return lines
