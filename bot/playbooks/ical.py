"""On-call calendars from iCalendar files (icalendar + recurring-ical-events), and the
rotation exported as a calendar that Google Calendar and Outlook can subscribe to.

Each event is a shift: its SUMMARY names the person on call (`ana` or `@ana`); RRULE, EXDATE,
RECURRENCE-ID overrides and TZID are expanded by recurring-ical-events. An all-day event
covers its days in UTC."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import icalendar
import recurring_ical_events

from bot.core.ownership.model import Team
from bot.core.ownership.oncall import OnCall, Segment, Shift, layer_at


class CalendarError(Exception):
    """An .ics file that cannot be used; str() is the reason."""


def _utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=UTC)


def person_of(summary: object) -> str:
    text = str(summary or "").strip()
    return text.split()[0].lstrip("@").rstrip(",:;") if text else ""


class IcsCalendar:
    """A CalendarSource over one parsed calendar; expansions are cached per interval."""

    def __init__(self, calendar: icalendar.Calendar, source: str) -> None:
        self.calendar = calendar
        self.source = source
        self._query = recurring_ical_events.of(calendar)
        zones = [str(tz.get("TZID")) for tz in calendar.walk("VTIMEZONE")]
        self.zone: str | None = str(calendar.get("X-WR-TIMEZONE") or "") or (
            zones[0] if zones else None
        )
        self._cache: dict[tuple[datetime, datetime], list[Shift]] = {}

    @classmethod
    def parse(cls, data: bytes | str, source: str) -> IcsCalendar:
        try:
            calendar = icalendar.Calendar.from_ical(data)
            found = cls(calendar, source)
            # Expand once now, so a broken RRULE or TZID is a load error, not a 3 a.m. one.
            found.shifts(datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 2, tzinfo=UTC))
        except CalendarError:
            raise
        except Exception as error:  # icalendar raises ValueError, KeyError, ... on bad input
            raise CalendarError(f"not a valid iCalendar file: {error}") from None
        if calendar.name != "VCALENDAR":
            raise CalendarError("not a VCALENDAR")
        return found

    @classmethod
    def read(cls, path: str | Path) -> IcsCalendar:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise CalendarError(f"cannot read: {error.strerror or error}") from None
        return cls.parse(data, str(path))

    def shifts(self, start: datetime, end: datetime) -> Sequence[Shift]:
        key = (start, end)
        if key not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            found = []
            for event in self._query.between(start, end):
                who = person_of(event.get("SUMMARY"))
                begin = _utc(event.decoded("DTSTART"))
                if "DTEND" in event:
                    finish = _utc(event.decoded("DTEND"))
                elif "DURATION" in event:
                    finish = begin + event.decoded("DURATION")
                else:
                    finish = begin + timedelta(days=1)
                if who and finish > begin:
                    found.append(Shift(who, begin, finish))
            found.sort(key=lambda s: s.start)
            self._cache[key] = found
        return self._cache[key]


# How far beyond the export window a shift's real start or end is looked for (doubling from a
# week): a stretch longer than that (a fixed on-call) is open at that side.
REACH = timedelta(days=7)
MAX_REACH = timedelta(days=448)


@dataclass(frozen=True)
class _Whole:
    segment: Segment  # with its real start and end where they were found
    open_start: bool  # began before what was looked at


def _whole_segments(team: Team, oncall: OnCall, start: datetime, end: datetime) -> list[_Whole]:
    """The schedule's segments overlapping [start, end), not cut at the window: a subscriber's
    calendar then sees the same shift, with the same start, whatever day it was exported."""
    reach = REACH
    while True:
        before, after = start - reach, end + reach
        segments = [  # gaps are not exported, so neither is their extent looked for
            s
            for s in oncall.schedule(team, before, after)
            if s.end > start and s.start < end and s.who is not None
        ]
        open_start = bool(segments) and segments[0].start <= before
        open_end = bool(segments) and segments[-1].end >= after
        if not (open_start or open_end) or reach >= MAX_REACH:
            break
        reach *= 2
    found = []
    for i, segment in enumerate(segments):
        first, last = i == 0, i == len(segments) - 1
        if (first and open_start) or (last and open_end):
            # Open at a side: cut there at the window, as before (nothing better is known).
            segment = replace(
                segment,
                start=start if first and open_start else segment.start,
                end=end if last and open_end else segment.end,
            )
        found.append(_Whole(segment, first and open_start))
    return found


def _source(team: Team, segment: Segment) -> str:
    """What puts the person on call: the rotation layer (by position), an override, the
    calendar or the fixed on-call."""
    if segment.why == "rotation":
        for index in reversed(range(len(team.rotation))):
            if layer_at(team.rotation[index], segment.start) is not None:
                return f"layer {index}"
    return segment.why


def shift_uid(team: Team, whole: _Whole) -> str:
    """Stable per (team, layer or source, shift start), so that a subscribed calendar keeps an
    event's identity when the export window moves; an open-started stretch is the team's
    only one (segments do not overlap)."""
    began = "open" if whole.open_start else whole.segment.start.isoformat()
    key = f"{team.name}|{_source(team, whole.segment)}|{began}"
    return f"{hashlib.sha1(key.encode()).hexdigest()[:20]}@warroom"


def export(team: Team, oncall: OnCall, start: datetime, end: datetime, *, url: str = "") -> bytes:
    """The team's final schedule over [start, end) as VEVENTs, one per on-call segment, each
    whole (a shift that began before `start` keeps its real start)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//warroom//on-call//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"{team.name} on call")
    cal.add("refresh-interval;value=duration", "PT1H")
    for whole in _whole_segments(team, oncall, start, end):
        segment = whole.segment
        event = icalendar.Event()
        event.add("uid", shift_uid(team, whole))
        event.add("dtstamp", start)
        event.add("dtstart", segment.start)
        event.add("dtend", segment.end)
        event.add("summary", f"@{segment.who}")
        event.add("description", f"{team.name} on call ({segment.why})")
        if url:
            event.add("url", url)
        cal.add_component(event)
    return cal.to_ical()
