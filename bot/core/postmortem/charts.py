"""Mermaid diagrams for postmortems: the incident's states and severities over time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.postmortem.escape import mermaid_label

_DATE = "%Y-%m-%d %H:%M:%S"
# Severities drawn as critical bars: the ones a reader looks for first.
_CRITICAL = {"sev1", "sev2"}


@dataclass(frozen=True)
class Interval:
    name: str
    start: datetime
    end: datetime


def state_chart(
    title: str,
    states: Sequence[Interval],
    severities: Sequence[Interval],
    moments: Sequence[tuple[str, datetime]],
) -> str:
    """A Mermaid gantt (without the ``` fence): one section of state spans, one of severity
    spans and one of key moments as milestones. Times are UTC with second precision."""
    first = min(span.start for span in (*states, *severities))
    last = max(span.end for span in (*states, *severities))
    axis, tick = _axis(last - first)
    lines = [
        "gantt",
        f"    title {mermaid_label(title)} state and severity over time (UTC)",
        "    dateFormat YYYY-MM-DD HH:mm:ss",
        f"    axisFormat {axis}",
        f"    tickInterval {tick}",
        # A postmortem is read long after: a "today" line would sit far off to the right.
        "    todayMarker off",
        "    section State",
    ]
    for span in states:
        if span.end == span.start and span is states[-1]:
            lines.append(f"    {mermaid_label(span.name)} : milestone, {span.start:{_DATE}}, 0m")
        else:
            lines.append(f"    {mermaid_label(span.name)} : {_span(span)}")
    lines.append("    section Severity")
    for span in severities:
        tag = "crit, " if span.name in _CRITICAL else ""
        lines.append(f"    {mermaid_label(span.name)} : {tag}{_span(span)}")
    if moments:
        lines.append("    section Key times")
        for label, when in moments:
            lines.append(f"    {mermaid_label(label)} : milestone, {when:{_DATE}}, 0m")
    return "\n".join(lines)


# (longest span, axis format, tick): ticks close enough for a few labels, never one label
# repeated (hours alone on a ten-minute incident; hours without the date past a day).
_AXES = (
    (timedelta(minutes=2), "%H:%M:%S", "15second"),
    (timedelta(minutes=10), "%H:%M:%S", "1minute"),
    (timedelta(hours=1), "%H:%M", "10minute"),
    (timedelta(hours=6), "%H:%M", "1hour"),
    (timedelta(days=1), "%H:%M", "3hour"),
    (timedelta(days=7), "%m-%d %H:%M", "1day"),
)


def _axis(length: timedelta) -> tuple[str, str]:
    for longest, axis, tick in _AXES:
        if length <= longest:
            return axis, tick
    return "%Y-%m-%d", "1week"


def _span(span: Interval) -> str:
    return f"{span.start:{_DATE}}, {span.end:{_DATE}}"
