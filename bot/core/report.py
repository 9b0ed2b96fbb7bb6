"""Incident metrics for `warroom report`: counts per week, service and severity, and how fast
incidents were acknowledged and resolved (median and p90), as Markdown, CSV or JSON.

Time to acknowledge runs from declared to the first responder action; time to resolve from
declared to resolved; time to detect from the first alert of the incident's alert groups to
declared (incidents without alerts are left out of it; declared before any alert counts 0).
Incidents still open count in the totals but not in time to resolve.
p90 is the nearest-rank percentile: a time that one incident actually took.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.core import messages
from bot.core.clock import format_duration
from bot.core.model import Incident, Severity
from bot.core.postmortem.escape import cell

NO_SERVICE = "(none)"
PRIVATE_SERVICE = "(private)"  # a private incident's service, unless --include-private


@dataclass(frozen=True)
class Stats:
    incidents: int
    acknowledged: int
    resolved: int
    tta_median: timedelta | None
    tta_p90: timedelta | None
    ttr_median: timedelta | None
    ttr_p90: timedelta | None
    detected: int = 0  # incidents with alerts: what time to detect is measured over
    ttd_median: timedelta | None = None
    ttd_p90: timedelta | None = None


@dataclass(frozen=True)
class Report:
    since: datetime | None
    generated_at: datetime
    total: Stats
    # First day (UTC) of every period in the range, quiet ones too; the bucket (day, week,
    # month or year) is chosen from the length of the range so the chart stays readable.
    periods: list[tuple[date, Stats]]
    services: list[tuple[str, Stats]]  # most incidents first
    severities: list[tuple[Severity, Stats]]  # sev1..sev4, each listed even when zero
    bucket: str = "week"
    private_count: int = 0  # counted everywhere; named only with include_private
    private: list[Incident] = field(default_factory=list)  # listed (include_private only)

    @property
    def weeks(self) -> list[tuple[date, Stats]]:
        """The periods when they are weeks (the report's shape before buckets varied)."""
        return self.periods if self.bucket == "week" else []


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def stats(
    incidents: Iterable[Incident], first_alerts: Mapping[int, datetime] | None = None
) -> Stats:
    first_alerts = first_alerts or {}
    chosen = list(incidents)
    ttd = [
        max(0.0, (i.declared_at - first_alerts[i.number]).total_seconds())
        for i in chosen
        if i.number in first_alerts
    ]
    tta = [
        (i.acknowledged_at - i.declared_at).total_seconds()
        for i in chosen
        if i.acknowledged_at is not None
    ]
    ttr = [(i.resolved_at - i.declared_at).total_seconds() for i in chosen if i.resolved_at]

    def seconds(value: float | None) -> timedelta | None:
        return None if value is None else timedelta(seconds=round(value))

    return Stats(
        incidents=len(chosen),
        acknowledged=len(tta),
        resolved=len(ttr),
        tta_median=seconds(statistics.median(tta) if tta else None),
        tta_p90=seconds(percentile(tta, 0.9) if tta else None),
        ttr_median=seconds(statistics.median(ttr) if ttr else None),
        ttr_p90=seconds(percentile(ttr, 0.9) if ttr else None),
        detected=len(ttd),
        ttd_median=seconds(statistics.median(ttd) if ttd else None),
        ttd_p90=seconds(percentile(ttd, 0.9) if ttd else None),
    )


def week_of(when: datetime) -> date:
    day = when.date()
    return day - timedelta(days=day.weekday())


def period_of(when: datetime, bucket: str) -> date:
    day = when.date()
    match bucket:
        case "day":
            return day
        case "week":
            return day - timedelta(days=day.weekday())
        case "month":
            return day.replace(day=1)
    return day.replace(month=1, day=1)


def _next(start: date, bucket: str) -> date:
    match bucket:
        case "day":
            return start + timedelta(days=1)
        case "week":
            return start + timedelta(days=7)
        case "month":
            return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start.replace(year=start.year + 1)


# (longest range, bucket): at most a few dozen bars whatever the range.
_BUCKETS = (
    (timedelta(days=14), "day"),
    (timedelta(weeks=26), "week"),
    (timedelta(days=3653), "month"),
)


def choose_bucket(start: datetime, end: datetime) -> str:
    return next((bucket for longest, bucket in _BUCKETS if end - start <= longest), "year")


def period_label(start: date, bucket: str) -> str:
    """With the year, so labels never repeat across years."""
    match bucket:
        case "day" | "week":
            return f"{start:%Y-%m-%d}"
        case "month":
            return f"{start:%Y-%m}"
    return f"{start:%Y}"


def build_report(
    incidents: list[Incident],
    now: datetime,
    since: datetime | None,
    first_alerts: Mapping[int, datetime] | None = None,
    *,
    include_private: bool = False,
) -> Report:
    """Private incidents count in every figure; their titles and services are named only
    with `include_private` (an operator's choice: the report may be pasted anywhere).
    `first_alerts`: incident number -> when its first alert started (time to detect)."""
    alerts = first_alerts or {}
    by_service: dict[str, list[Incident]] = {}
    for incident in incidents:
        hidden = incident.private and not include_private
        service = PRIVATE_SERVICE if hidden else incident.service or NO_SERVICE
        by_service.setdefault(service, []).append(incident)
    periods: list[tuple[date, Stats]] = []
    bucket = "week"
    if incidents:
        first = since or min(i.declared_at for i in incidents)
        last = max(now, max(i.declared_at for i in incidents))
        bucket = choose_bucket(first, last)
        grouped: dict[date, list[Incident]] = {}
        for incident in incidents:
            grouped.setdefault(period_of(incident.declared_at, bucket), []).append(incident)
        # Quiet periods are listed too: a week without incidents is worth seeing on the chart.
        start, end = period_of(first, bucket), period_of(last, bucket)
        while start <= end:
            periods.append((start, stats(grouped.get(start, []), alerts)))
            start = _next(start, bucket)
    services = sorted(by_service.items(), key=lambda item: (-len(item[1]), item[0]))
    return Report(
        since=since,
        generated_at=now,
        total=stats(incidents, alerts),
        periods=periods,
        services=[(name, stats(group, alerts)) for name, group in services],
        severities=[
            (sev, stats((i for i in incidents if i.severity is sev), alerts)) for sev in Severity
        ],
        bucket=bucket,
        private_count=sum(i.private for i in incidents),
        private=[i for i in incidents if i.private] if include_private else [],
    )


def _row_label(start: date, bucket: str) -> str:
    if bucket == "week":
        return f"{start:%Y-%m-%d} (W{start.isocalendar().week:02d})"
    return period_label(start, bucket)


def _duration(value: timedelta | None) -> str:
    return format_duration(value) if value is not None else "-"


def _seconds(value: timedelta | None) -> int | None:
    return int(value.total_seconds()) if value is not None else None


def _md_row(label: str, s: Stats) -> str:
    return (
        f"| {label} | {s.incidents} | {_duration(s.tta_median)} | {_duration(s.tta_p90)} "
        f"| {_duration(s.ttr_median)} | {_duration(s.ttr_p90)} |"
    )


def _md_table(title: str, first: str, rows: list[tuple[str, Stats]]) -> list[str]:
    if not rows:
        return [f"## {title}", "", "No incidents.", ""]
    return [
        f"## {title}",
        "",
        f"| {first} | Incidents | TTA median | TTA p90 | TTR median | TTR p90 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(_md_row(label, s) for label, s in rows),
        "",
    ]


def render_markdown(report: Report) -> str:
    scope = f"since {report.since:%Y-%m-%d}" if report.since else "all time"
    total = report.total
    out = [
        f"# Incident report ({scope})",
        "",
        f"Generated {report.generated_at:%Y-%m-%d %H:%M:%S} UTC. Incidents: {total.incidents} "
        f"({total.acknowledged} acknowledged, {total.resolved} resolved"
        + (f", {report.private_count} private" if report.private_count else "")
        + "). TTA: time to "
        "acknowledge; TTR: time to resolve (resolved incidents only); p90 is nearest-rank.",
        "",
    ]
    out += _md_table("Overall", "Scope", [("All incidents", total)])
    bucket = report.bucket
    if report.periods:
        labels = ", ".join(f'"{period_label(p, bucket)}"' for p, _ in report.periods)
        counts = ", ".join(str(s.incidents) for _, s in report.periods)
        top = max(s.incidents for _, s in report.periods)
        starting = f" ({bucket} starting, UTC)" if bucket == "week" else " (UTC)"
        out += [
            "```mermaid",
            "xychart-beta",
            f'    title "Incidents per {bucket}{starting}"',
            f"    x-axis [{labels}]",
            f'    y-axis "Incidents" 0 --> {max(top, 1)}',
            f"    bar [{counts}]",
            "```",
            "",
        ]
    out += _md_table(
        f"Per {bucket}",
        "Week starting" if bucket == "week" else bucket.capitalize(),
        [(_row_label(p, bucket), s) for p, s in report.periods],
    )
    out += _md_table("Per service", "Service", [(cell(name), s) for name, s in report.services])
    out += _md_table(
        "Per severity",
        "Severity",
        [(f"{sev.value} ({sev.label})", s) for sev, s in report.severities],
    )
    if total.detected:
        out += _md_detect(report)
    if total.incidents:
        out += ["```mermaid", "pie title Incidents by severity"]
        out += [f'    "{sev.value}" : {s.incidents}' for sev, s in report.severities if s.incidents]
        out += ["```", ""]
    if report.private:
        out += [
            "## Private incidents",
            "",
            "| Incident | Title | Service | Severity | State |",
            "| --- | --- | --- | --- | --- |",
            *(
                f"| {i.ref} | {cell(i.title)} | {cell(i.service or NO_SERVICE)} "
                f"| {i.severity.value} | {i.state.value} |"
                for i in report.private
            ),
            "",
        ]
    return "\n".join(out)


def _md_detect(report: Report) -> list[str]:
    """Time to detect, for the incidents that came with alerts."""
    rows = [("All incidents", report.total), *((cell(n), s) for n, s in report.services)]
    return [
        "## Time to detect",
        "",
        f"From the first alert to the declaration, over the {report.total.detected} "
        "incident(s) that came with alerts.",
        "",
        "| Scope | With alerts | TTD median | TTD p90 |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {label} | {s.detected} | {_duration(s.ttd_median)} | {_duration(s.ttd_p90)} |"
            for label, s in rows
            if s.detected
        ),
        "",
    ]


CSV_COLUMNS = (
    "group",
    "key",
    "incidents",
    "acknowledged",
    "resolved",
    "tta_median_s",
    "tta_p90_s",
    "ttr_median_s",
    "ttr_p90_s",
    "ttd_median_s",
    "ttd_p90_s",
)


def _rows(report: Report) -> Iterable[tuple[str, str, Stats]]:
    yield "all", "all", report.total
    for start, s in report.periods:
        yield report.bucket, start.isoformat(), s
    for name, s in report.services:
        yield "service", name, s
    for sev, s in report.severities:
        yield "severity", sev.value, s


def _stats_dict(s: Stats) -> dict[str, int | None]:
    return {
        "incidents": s.incidents,
        "acknowledged": s.acknowledged,
        "resolved": s.resolved,
        "tta_median_s": _seconds(s.tta_median),
        "tta_p90_s": _seconds(s.tta_p90),
        "ttr_median_s": _seconds(s.ttr_median),
        "ttr_p90_s": _seconds(s.ttr_p90),
        "ttd_median_s": _seconds(s.ttd_median),
        "ttd_p90_s": _seconds(s.ttd_p90),
    }


def render_csv(report: Report) -> str:
    """One row per group (all, week, service, severity); durations in seconds."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for group, key, s in _rows(report):
        # A leading = + - @ would make a spreadsheet run the cell as a formula.
        safe_key = "'" + key if key[:1] in ("=", "+", "-", "@") else key
        values = ("" if v is None else v for v in _stats_dict(s).values())
        writer.writerow([group, safe_key, *values])
    return buffer.getvalue()


def render_json(report: Report) -> str:
    document: dict[str, Any] = {
        "since": report.since.isoformat() if report.since else None,
        "generated_at": report.generated_at.isoformat(),
        "total": _stats_dict(report.total),
        "bucket": report.bucket,
        # "weeks": [{"week": ...}], or days, months, years as the range chose.
        f"{report.bucket}s": [
            {report.bucket: p.isoformat(), **_stats_dict(s)} for p, s in report.periods
        ],
        "services": [{"service": n, **_stats_dict(s)} for n, s in report.services],
        "severities": [{"severity": v.value, **_stats_dict(s)} for v, s in report.severities],
        "private": report.private_count,
    }
    if report.private:
        document["private_incidents"] = [
            {
                "incident": i.ref,
                "title": i.title,
                "service": i.service,
                "severity": i.severity.value,
                "state": i.state.value,
            }
            for i in report.private
        ]
    return json.dumps(document, indent=2) + "\n"


FORMATS: dict[str, Callable[[Report], str]] = {
    "md": render_markdown,
    "csv": render_csv,
    "json": render_json,
}


def parse_since(text: str) -> datetime:
    """`2026-01-31` (midnight UTC) or an ISO 8601 time; a time without offset is UTC.
    ValueError with a message for the user when it is neither."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(messages.bad_report_date(text)) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def formatter(name: str) -> Callable[[Report], str]:
    try:
        return FORMATS[name.lower()]
    except KeyError:
        raise ValueError(messages.bad_report_format(name, FORMATS)) from None
