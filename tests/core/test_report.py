"""`warroom report` numbers: counts, medians and nearest-rank p90, in every format."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.model import Incident, Severity, State
from bot.core.report import build_report, formatter, parse_since, percentile, render_markdown

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def incident(
    day: float,
    severity: Severity,
    service: str | None,
    tta_min: float | None,
    ttr_min: float | None,
) -> Incident:
    declared = MONDAY + timedelta(days=day)
    return Incident(
        0,
        "t",
        severity,
        State.RESOLVED if ttr_min is not None else State.INVESTIGATING,
        declared,
        "alice",
        "console",
        service=service,
        acknowledged_at=declared + timedelta(minutes=tta_min) if tta_min is not None else None,
        resolved_at=declared + timedelta(minutes=ttr_min) if ttr_min is not None else None,
    )


INCIDENTS = [
    incident(0, Severity.SEV1, "checkout", 2, 30),
    incident(1, Severity.SEV2, "checkout", 4, 60),
    incident(2, Severity.SEV2, "search", 6, 90),
    incident(15, Severity.SEV3, None, None, None),  # two weeks later, still open
    incident(16, Severity.SEV3, "a|b", 10, 120),
]
NOW = MONDAY + timedelta(days=17)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9
    assert percentile([5], 0.9) == 5
    assert percentile([3, 1, 2], 0.5) == 2


def test_report_counts_and_times() -> None:
    report = build_report(INCIDENTS, NOW, None)
    total = report.total
    assert (total.incidents, total.acknowledged, total.resolved) == (5, 4, 4)
    assert total.tta_median == timedelta(minutes=5)  # median of 2, 4, 6, 10
    assert total.tta_p90 == timedelta(minutes=10)
    assert total.ttr_median == timedelta(minutes=75)
    assert total.ttr_p90 == timedelta(minutes=120)
    # The quiet week in between is listed with zero incidents.
    assert [(w, s.incidents) for w, s in report.weeks] == [
        (date(2026, 3, 2), 3),
        (date(2026, 3, 9), 0),
        (date(2026, 3, 16), 2),
    ]
    assert [(name, s.incidents) for name, s in report.services] == [
        ("checkout", 2),
        ("(none)", 1),
        ("a|b", 1),
        ("search", 1),
    ]
    assert [(sev.value, s.incidents) for sev, s in report.severities] == [
        ("sev1", 1),
        ("sev2", 2),
        ("sev3", 2),
        ("sev4", 0),
    ]


def test_markdown_has_tables_and_mermaid_charts() -> None:
    text = render_markdown(build_report(INCIDENTS, NOW, parse_since("2026-03-01")))
    assert text.startswith("# Incident report (since 2026-03-01)\n")
    assert "| All incidents | 5 | 5m 00s | 10m 00s | 1h 15m | 2h 00m |" in text
    # 2026-03-01 is a Sunday: the chart starts with the week it falls in.
    assert '    x-axis ["2026-02-23", "2026-03-02", "2026-03-09", "2026-03-16"]' in text
    assert "    bar [0, 3, 0, 2]" in text
    assert '    "sev2" : 2' in text and '"sev4"' not in text
    assert "| a\\|b | 1 |" in text


def test_csv_and_json_carry_seconds() -> None:
    report = build_report(INCIDENTS, NOW, None)
    rows = list(csv.DictReader(io.StringIO(formatter("csv")(report))))
    assert rows[0] == {
        "group": "all",
        "key": "all",
        "incidents": "5",
        "acknowledged": "4",
        "resolved": "4",
        "tta_median_s": "300",
        "tta_p90_s": "600",
        "ttr_median_s": "4500",
        "ttr_p90_s": "7200",
        "ttd_median_s": "",
        "ttd_p90_s": "",
    }
    assert {r["key"] for r in rows if r["group"] == "service"} == {
        "checkout",
        "(none)",
        "a|b",
        "search",
    }
    document = json.loads(formatter("JSON")(report))
    assert document["total"]["ttr_p90_s"] == 7200
    assert document["weeks"][1] == {
        "week": "2026-03-09",
        "incidents": 0,
        "acknowledged": 0,
        "resolved": 0,
        "tta_median_s": None,
        "tta_p90_s": None,
        "ttr_median_s": None,
        "ttr_p90_s": None,
        "ttd_median_s": None,
        "ttd_p90_s": None,
    }


def test_csv_defuses_spreadsheet_formulas() -> None:
    report = build_report([incident(0, Severity.SEV1, "=cmd()", 1, 2)], NOW, None)
    assert "service,'=cmd()," in formatter("csv")(report)


def test_bad_arguments_say_what_to_type() -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_since("notadate")
    with pytest.raises(ValueError, match="md, csv, json"):
        formatter("xml")
    assert parse_since("2026-03-01T10:00:00+02:00") == datetime(2026, 3, 1, 8, tzinfo=UTC)


def test_markdown_matches_golden_file() -> None:
    path = Path(__file__).resolve().parent.parent / "golden" / "report.md"
    text = render_markdown(build_report(INCIDENTS, NOW, None))
    if os.environ.get("WARROOM_REGENERATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


# -- issue 12, point 16: the bucket follows the range, labels carry the year --------------


def test_a_long_range_is_counted_per_month_with_the_year() -> None:
    report = build_report(INCIDENTS, NOW, parse_since("2020-01-01"))
    assert report.bucket == "month"
    assert report.periods[0][0] == date(2020, 1, 1) and report.periods[-1][0] == date(2026, 3, 1)
    assert len(report.periods) == 75
    text = render_markdown(report)
    assert '    title "Incidents per month (UTC)"' in text
    axis = next(line for line in text.splitlines() if line.startswith("    x-axis"))
    labels = json.loads(axis.removeprefix("    x-axis "))
    assert labels[:2] == ["2020-01", "2020-02"] and labels[-1] == "2026-03"
    assert len(set(labels)) == len(labels)  # no label repeats across years
    assert "| 2026-03 | 5 |" in text and "## Per month" in text
    document = json.loads(formatter("json")(report))
    assert document["bucket"] == "month" and document["months"][-1]["month"] == "2026-03-01"


def test_a_few_days_are_counted_per_day_and_years_beyond_five() -> None:
    days = build_report(INCIDENTS[:3], MONDAY + timedelta(days=3), None)
    assert days.bucket == "day"
    assert [(d, s.incidents) for d, s in days.periods] == [
        (date(2026, 3, 2), 1),
        (date(2026, 3, 3), 1),
        (date(2026, 3, 4), 1),
        (date(2026, 3, 5), 0),
    ]
    years = build_report(INCIDENTS, NOW, parse_since("2015-06-01"))
    assert years.bucket == "year" and years.periods[0][0] == date(2015, 1, 1)
    assert len(years.periods) == 12
