"""Who is on call: rotation layers, restrictions, calendars and overrides, at an instant or
as a schedule of segments over an interval. Pure: every answer is for a time passed in.

Precedence at an instant: an override, else a calendar event, else the last rotation layer
that has someone then (a later layer sits on top, as in PagerDuty), else the fixed `oncall`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.core.ownership.model import WEEKDAYS, Catalog, Layer, Restriction, Team


@dataclass(frozen=True)
class Shift:
    who: str
    start: datetime
    end: datetime


class CalendarSource(Protocol):
    """A team's on-call calendar (an .ics file, read outside the core)."""

    source: str

    def shifts(self, start: datetime, end: datetime) -> Sequence[Shift]:
        """Events overlapping [start, end), expanded (recurrences, exceptions, overrides)."""
        ...


# -- one rotation layer ------------------------------------------------------------------------


def handoff(layer: Layer, k: int) -> datetime:
    """Start of turn k (UTC): the first hand-off's local wall-clock time, k lengths later."""
    local = layer.start.replace(tzinfo=None) + k * layer.length
    return local.replace(tzinfo=layer.zone).astimezone(UTC)


def turn_at(layer: Layer, at: datetime) -> int | None:
    """The index of the turn running at `at`; None before the first hand-off."""
    local = at.astimezone(layer.zone).replace(tzinfo=None)
    k = math.floor((local - layer.start.replace(tzinfo=None)) / layer.length)
    # Wall-clock arithmetic is off by at most the DST shift: settle on the exact turn.
    while handoff(layer, k + 1) <= at:
        k += 1
    while k > -2 and handoff(layer, k) > at:
        k -= 1
    return k if k >= 0 and handoff(layer, k) <= at else None


def _in_window(restriction: Restriction, zone: ZoneInfo, at: datetime) -> bool:
    local = at.astimezone(zone)
    now, day = local.time().replace(tzinfo=None), WEEKDAYS[local.weekday()]
    previous = WEEKDAYS[(local.weekday() - 1) % 7]
    start, end = restriction.start, restriction.end
    if start < end:
        return day in restriction.days and start <= now < end
    if start == end:  # a whole day
        return day in restriction.days
    return (day in restriction.days and now >= start) or (
        previous in restriction.days and now < end
    )


def layer_at(layer: Layer, at: datetime) -> str | None:
    k = turn_at(layer, at)
    if k is None:
        return None
    if layer.restrict is not None and not _in_window(layer.restrict, layer.zone, at):
        return None
    return layer.members[k % len(layer.members)]


def _layer_boundaries(layer: Layer, start: datetime, end: datetime) -> Iterable[datetime]:
    k = turn_at(layer, start)
    k = 0 if k is None else k + 1
    while (t := handoff(layer, k)) < end:
        yield t
        k += 1
    if layer.restrict is not None:
        zone, r = layer.zone, layer.restrict
        day = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date()
        while day <= last:
            for clock in (r.start, r.end):
                yield _local(day, clock, zone)
            day += timedelta(days=1)


def _local(day: date, clock: object, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)  # type: ignore[arg-type]


# -- a team --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    who: str | None  # None: a gap, nobody on call
    start: datetime
    end: datetime
    why: str  # "override", "calendar", "rotation", "fixed", "gap"


class OnCall:
    """Answers for one catalog; calendars are asked once per interval and cached by it."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def at(self, team: Team, at: datetime) -> tuple[str | None, str]:
        shifts = self._calendar(team, at, at + timedelta(seconds=1))
        return self._who(team, at, shifts)

    def _calendar(self, team: Team, start: datetime, end: datetime) -> Sequence[Shift]:
        calendar = self.catalog.calendar_of(team.name)
        return calendar.shifts(start, end) if calendar is not None else ()

    @staticmethod
    def _who(team: Team, at: datetime, shifts: Sequence[Shift]) -> tuple[str | None, str]:
        for override in reversed(team.overrides):
            if override.start <= at < override.end:
                return override.who, "override"
        for shift in shifts:
            if shift.start <= at < shift.end:
                return shift.who, "calendar"
        for layer in reversed(team.rotation):
            who = layer_at(layer, at)
            if who is not None:
                return who, "rotation"
        if team.oncall:
            return team.oncall[0], "fixed"
        return None, "gap"

    def schedule(self, team: Team, start: datetime, end: datetime) -> list[Segment]:
        """Who is on call over [start, end), as consecutive segments (gaps included)."""
        shifts = self._calendar(team, start, end)
        points = {start}
        for layer in team.rotation:
            points.update(_layer_boundaries(layer, start, end))
        for override in team.overrides:
            points.update((override.start, override.end))
        for shift in shifts:
            points.update((shift.start, shift.end))
        ordered = sorted(p for p in points if start <= p < end)
        segments: list[Segment] = []
        for i, point in enumerate(ordered):
            who, why = self._who(team, point, shifts)
            stop = ordered[i + 1] if i + 1 < len(ordered) else end
            if segments and segments[-1].who == who and segments[-1].why == why:
                segments[-1] = Segment(who, segments[-1].start, stop, why)
            else:
                segments.append(Segment(who, point, stop, why))
        return segments

    def now_and_next(
        self, team: Team, at: datetime, horizon: timedelta = timedelta(days=60)
    ) -> tuple[Segment, Segment | None]:
        """The segment running at `at` and the one after it (None: no change in the horizon)."""
        segments = self.schedule(team, at, at + horizon)
        # Merge by person alone: "@bob until X" means bob stops at X, whatever the reason.
        merged: list[Segment] = []
        for s in segments:
            if merged and merged[-1].who == s.who:
                merged[-1] = Segment(s.who, merged[-1].start, s.end, merged[-1].why)
            else:
                merged.append(s)
        return merged[0], merged[1] if len(merged) > 1 else None

    def gaps(self, team: Team, start: datetime, end: datetime) -> list[Segment]:
        return [s for s in self.schedule(team, start, end) if s.who is None]


def team_zone(team: Team, catalog: Catalog | None = None) -> ZoneInfo:
    """The zone a team reads times in: its first rotation layer's, else its calendar's, else
    UTC."""
    if team.rotation:
        return team.rotation[0].zone
    calendar = catalog.calendar_of(team.name) if catalog is not None else None
    name = getattr(calendar, "zone", None)
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def describe(now: Segment, following: Segment | None, zone: ZoneInfo) -> str:
    """`@bob until Mon 30 Mar 09:00 Europe/Zagreb, then @carol`."""
    who = f"@{now.who}" if now.who else "nobody"
    if following is None:
        return f"{who} (no change in the next 60 days)"
    until = following.start.astimezone(zone).strftime("%a %d %b %H:%M")
    then = f"@{following.who}" if following.who else "nobody"
    return f"{who} until {until} {zone.key}, then {then}"
