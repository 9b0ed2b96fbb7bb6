"""Escalation: which level of a policy pages whom, and when the next one is due. Pure.

A policy's levels run in order, each after the previous level's `after`; with `repeat: N`
the whole list runs N more times. Step i (0-based) is level i % len(levels); the last step
is len(levels) * (repeat + 1) - 1. The first acknowledgement stops it (the caller checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.ownership.model import Catalog, EscalationPolicy, Level, Team
from bot.core.ownership.oncall import OnCall


@dataclass(frozen=True)
class Step:
    index: int
    level: Level
    round: int  # 0 the first time through, 1.. for repeats
    next_due: timedelta | None  # after this step, when the next one is; None: the last


def step(policy: EscalationPolicy, index: int) -> Step | None:
    total = len(policy.levels) * (policy.repeat + 1)
    if not 0 <= index < total:
        return None
    level = policy.levels[index % len(policy.levels)]
    return Step(
        index, level, index // len(policy.levels), level.after if index + 1 < total else None
    )


def elapsed_before(policy: EscalationPolicy, index: int) -> timedelta:
    """How long after the first page step `index` is due."""
    return sum((policy.levels[i % len(policy.levels)].after for i in range(index)), timedelta())


def people_of(
    catalog: Catalog, oncall: OnCall, team: Team, level: Level, at: datetime
) -> list[str]:
    """The people a level pages at `at` (catalog names, in order, once each)."""
    people: list[str] = []
    for target in level.targets:
        if target.oncall:
            who, _ = oncall.at(team, at)
            people.extend([who] if who else [] if team.has_oncall_setup else team.members)
        elif target.person:
            people.append(target.person)
        elif target.team:
            other = catalog.team(target.team)
            if other is not None:
                who, _ = oncall.at(other, at)
                people.extend([who] if who else [] if other.has_oncall_setup else other.members)
    return list(dict.fromkeys(people))


def ends_in_nobody(catalog: Catalog, oncall: OnCall, team: Team, at: datetime) -> str | None:
    """Why a team's escalation policy ends in nobody (its last level pages no one at `at`)."""
    last = team.policy().levels[-1]
    if people_of(catalog, oncall, team, last, at):
        return None
    return (
        f"team '{team.name}': its escalation policy ends in nobody (the last level, "
        f"{', '.join(t.describe() for t in last.targets)}, has no one to page now)"
    )
