"""Rotations, restrictions, overrides and calendars, at fixed instants (no real clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar

from bot.core.ownership import Catalog, OnCall, Shift
from bot.core.ownership.answer import oncall_answer
from bot.core.ownership.oncall import handoff
from bot.playbooks.catalog_loader import load_sources
from bot.playbooks.ical import IcsCalendar, export


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def team_catalog(**team: object) -> Catalog:
    return Catalog.model_validate({"teams": [{"name": "payments", **team}]})


WEEKLY = {
    "members": ["ana", "bob", "carol"],
    "start": "2027-03-01T09:00:00",
    "timezone": "Europe/Zagreb",
    "length": "1w",
}


def test_weekly_handoff_keeps_its_local_time_across_the_spring_dst_change() -> None:
    # Europe/Zagreb moves from +01:00 to +02:00 on Sunday 28 March 2027.
    catalog = team_catalog(rotation=[WEEKLY])
    team, oncall = catalog.team("payments"), OnCall(catalog)
    assert team is not None
    layer = team.rotation[0]
    assert handoff(layer, 3) == utc(2027, 3, 22, 8, 0)  # 09:00 at +01:00
    assert handoff(layer, 4) == utc(2027, 3, 29, 7, 0)  # 09:00 at +02:00: one hour earlier in UTC
    assert oncall.at(team, utc(2027, 3, 29, 6, 59)) == ("ana", "rotation")  # turn 3: ana again
    assert oncall.at(team, utc(2027, 3, 29, 7, 0)) == ("bob", "rotation")
    assert oncall.at(team, utc(2027, 3, 29, 7, 30))[0] == "bob"
    # The same rotation in UTC would still have ana at 07:30 (hand-off at 08:00 UTC).
    naive = team_catalog(rotation=[{**WEEKLY, "timezone": "UTC"}])
    assert OnCall(naive).at(naive.teams[0], utc(2027, 3, 29, 7, 30))[0] == "ana"


def test_daily_rotation_across_the_autumn_change_and_before_its_start() -> None:
    catalog = team_catalog(rotation=[{**WEEKLY, "length": "1d", "start": "2027-10-29T09:00:00"}])
    team, oncall = catalog.teams[0], OnCall(catalog)
    assert oncall.at(team, utc(2027, 10, 29, 6, 0)) == (None, "gap")  # before the first turn
    # 31 October 2027: back to +01:00. 09:00 local is 08:00 UTC from then on.
    assert oncall.at(team, utc(2027, 10, 30, 7, 0))[0] == "bob"  # 09:00 +02:00
    assert oncall.at(team, utc(2027, 10, 31, 7, 30))[0] == "bob"  # 08:30 local: still bob
    assert oncall.at(team, utc(2027, 10, 31, 8, 0))[0] == "carol"
    segments = OnCall(catalog).schedule(team, utc(2027, 10, 30), utc(2027, 11, 2))
    assert [(s.who, s.start) for s in segments] == [
        ("ana", utc(2027, 10, 30)),
        ("bob", utc(2027, 10, 30, 7)),
        ("carol", utc(2027, 10, 31, 8)),
        ("ana", utc(2027, 11, 1, 8)),
    ]


def test_restricted_layer_over_a_base_layer_and_overrides_win() -> None:
    business = {
        "members": ["dave"],
        "start": "2027-03-01T00:00:00",
        "timezone": "Europe/Zagreb",
        "length": "1w",
        "restrict": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"},
    }
    override = {"who": "erin", "from": "2027-03-30T10:00:00Z", "until": "2027-03-30T12:00:00Z"}
    catalog = team_catalog(rotation=[WEEKLY, business], overrides=[override])
    team, oncall = catalog.teams[0], OnCall(catalog)
    assert oncall.at(team, utc(2027, 3, 30, 6, 59))[0] == "bob"  # 08:59 local: base layer
    assert oncall.at(team, utc(2027, 3, 30, 7, 0)) == ("dave", "rotation")  # 09:00 local
    assert oncall.at(team, utc(2027, 3, 30, 11, 0)) == ("erin", "override")
    assert oncall.at(team, utc(2027, 3, 30, 16, 0))[0] == "bob"  # 18:00 local
    assert oncall.at(team, utc(2027, 4, 3, 10, 0))[0] == "bob"  # Saturday: no dave
    text = oncall_answer(catalog, "payments", utc(2027, 3, 30, 12, 0))
    assert text.splitlines()[0] == "@dave until Tue 30 Mar 18:00 Europe/Zagreb, then @bob"


ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VTIMEZONE
TZID:Europe/Zagreb
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:ana-weekly@test
DTSTART;TZID=Europe/Zagreb:20270301T090000
DTEND;TZID=Europe/Zagreb:20270308T090000
RRULE:FREQ=WEEKLY;INTERVAL=2
EXDATE;TZID=Europe/Zagreb:20270315T090000
SUMMARY:@ana
END:VEVENT
BEGIN:VEVENT
UID:bob-weekly@test
DTSTART;TZID=Europe/Zagreb:20270308T090000
DTEND;TZID=Europe/Zagreb:20270315T090000
RRULE:FREQ=WEEKLY;INTERVAL=2
SUMMARY:bob
END:VEVENT
BEGIN:VEVENT
UID:bob-weekly@test
RECURRENCE-ID;TZID=Europe/Zagreb:20270322T090000
DTSTART;TZID=Europe/Zagreb:20270322T090000
DTEND;TZID=Europe/Zagreb:20270329T090000
SUMMARY:carol
END:VEVENT
END:VCALENDAR
"""


def test_calendar_rrule_exdate_recurrence_id_and_tzid() -> None:
    calendar = IcsCalendar.parse(ICS, "oncall.ics")
    catalog = team_catalog(members=["ana", "bob", "carol"])
    catalog.set_calendar("payments", calendar)
    team, oncall = catalog.teams[0], OnCall(catalog)
    assert oncall.at(team, utc(2027, 3, 2, 12)) == ("ana", "calendar")  # "@ana" -> ana
    assert oncall.at(team, utc(2027, 3, 9, 12))[0] == "bob"
    assert oncall.at(team, utc(2027, 3, 16, 12)) == (None, "gap")  # EXDATE
    assert oncall.at(team, utc(2027, 3, 23, 12))[0] == "carol"  # RECURRENCE-ID override
    # 29 March 09:00 Zagreb is 07:00 UTC after the DST change: carol's week ends then.
    assert oncall.at(team, utc(2027, 3, 29, 6, 59))[0] == "carol"
    assert oncall.at(team, utc(2027, 3, 29, 7, 30))[0] == "ana"
    assert calendar.shifts(utc(2027, 3, 29), utc(2027, 3, 30)) == [
        Shift("carol", utc(2027, 3, 22, 8), utc(2027, 3, 29, 7)),  # 09:00 at +01:00 .. +02:00
        Shift("ana", utc(2027, 3, 29, 7), utc(2027, 4, 5, 7)),
    ]


def test_exported_calendar_reads_back_as_the_same_schedule() -> None:
    catalog = team_catalog(rotation=[WEEKLY])
    team, oncall = catalog.teams[0], OnCall(catalog)
    start, end = utc(2027, 3, 20), utc(2027, 4, 10)
    data = export(team, oncall, start, end)
    assert b"X-WR-CALNAME:payments on call" in data
    back = IcsCalendar.parse(data, "export.ics").shifts(start, end)
    # Whole shifts: carol's week began before the window, the last one ends after it.
    assert [(s.who, s.start, s.end) for s in back] == [
        ("carol", utc(2027, 3, 15, 8), utc(2027, 3, 22, 8)),
        ("ana", utc(2027, 3, 22, 8), utc(2027, 3, 29, 7)),  # 09:00 Zagreb, after the DST change
        ("bob", utc(2027, 3, 29, 7), utc(2027, 4, 5, 7)),
        ("carol", utc(2027, 4, 5, 7), utc(2027, 4, 12, 7)),
    ]
    # Inside the window the calendar says what the schedule says.
    assert [s.who for s in back] == [s.who for s in oncall.schedule(team, start, end)]


def exported(data: bytes) -> dict[str, tuple[str, datetime, datetime]]:
    """UID -> (summary, start, end) of every event in an exported calendar."""
    events = icalendar.Calendar.from_ical(data).walk("VEVENT")
    return {
        str(e["UID"]): (str(e["SUMMARY"]), e.decoded("DTSTART"), e.decoded("DTEND")) for e in events
    }


def test_a_shift_keeps_its_uid_when_the_export_window_moves() -> None:
    business = {
        "members": ["dave", "erin"],
        "start": "2027-03-01T00:00:00",
        "timezone": "Europe/Zagreb",
        "length": "1d",
        "restrict": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"},
    }
    override = {"who": "fred", "from": "2027-03-24T10:00:00Z", "until": "2027-03-24T12:00:00Z"}
    catalog = team_catalog(rotation=[WEEKLY, business], overrides=[override])
    team, oncall = catalog.teams[0], OnCall(catalog)
    # What /oncall/TEAM.ics serves on two days: each window starts the day before "today".
    first = exported(export(team, oncall, utc(2027, 3, 19), utc(2027, 3, 19) + timedelta(30)))
    second = exported(export(team, oncall, utc(2027, 3, 24, 11), utc(2027, 4, 30)))
    common = first.keys() & second.keys()
    # Every shift that both windows show is the same event: same UID, same times.
    assert common == {u for u, (_, _, end) in first.items() if end > utc(2027, 3, 24, 11)}
    assert all(first[uid] == second[uid] for uid in common)
    # Shifts running at a window's start keep their real starts (not cut at the window):
    # carol's evening from Thursday 18:00 Zagreb, fred's override from 10:00 UTC.
    assert min(first.values(), key=lambda e: e[1]) == (
        "@carol",
        utc(2027, 3, 18, 17),
        utc(2027, 3, 19, 8),
    )
    assert min(second.values(), key=lambda e: e[1]) == (
        "@fred",
        utc(2027, 3, 24, 10),
        utc(2027, 3, 24, 12),
    )
    assert len(set(first)) == len(first) and len(set(second)) == len(second)


def test_a_fixed_on_call_keeps_its_uid_too() -> None:
    catalog = team_catalog(oncall=["gus"])
    team, oncall = catalog.teams[0], OnCall(catalog)
    one = exported(export(team, oncall, utc(2027, 3, 1), utc(2027, 3, 31)))
    two = exported(export(team, oncall, utc(2027, 3, 8), utc(2027, 4, 7)))
    assert len(one) == len(two) == 1 and one.keys() == two.keys()


def test_unparseable_calendar_is_reported_with_its_file(tmp_path: Path) -> None:
    (tmp_path / "team.ics").write_text("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:nonsense\n")
    (tmp_path / "catalog.yaml").write_text(
        "teams:\n  - name: payments\n    members: [ana]\n    calendar: team.ics\n"
    )
    catalog, problems = load_sources(tmp_path / "catalog.yaml")
    assert catalog is None
    [problem] = problems
    assert problem.path == str(tmp_path / "team.ics")
    assert "not a valid iCalendar file" in problem.message
    assert f"{tmp_path / 'catalog.yaml'}:4:15" in problem.message


def test_gaps_over_an_interval() -> None:
    catalog = team_catalog(
        members=["ana"],
        overrides=[{"who": "ana", "from": "2027-01-01T00:00:00Z", "until": "2027-01-02T00:00:00Z"}],
    )
    team = catalog.teams[0]
    gaps = OnCall(catalog).gaps(team, utc(2027, 1, 1), utc(2027, 1, 3))
    assert [(g.start, g.end) for g in gaps] == [(utc(2027, 1, 2), utc(2027, 1, 3))]
    assert timedelta(days=1) == gaps[0].end - gaps[0].start
