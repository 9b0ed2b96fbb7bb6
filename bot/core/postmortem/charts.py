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
    # Past a day, hours alone repeat on the axis and mislead; show the date too.
    axis = "%m-%d %H:%M" if last - first > timedelta(days=1) else "%H:%M"
    lines = [
        "gantt",
        f"    title {mermaid_label(title)} state and severity over time (UTC)",
        "    dateFormat YYYY-MM-DD HH:mm:ss",
        f"    axisFormat {axis}",
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


def _span(span: Interval) -> str:
    return f"{span.start:{_DATE}}, {span.end:{_DATE}}"
