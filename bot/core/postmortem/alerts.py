"""The postmortem's Alerts section: every alert recorded on the incident's timeline (see
bot/core/alerts), and time to detect: from the first alert's start to the declaration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.clock import format_duration
from bot.core.model import EventKind, TimelineEvent
from bot.core.views import stamp


@dataclass(frozen=True)
class AlertItem:
    at: str  # when it fired or resolved, UTC stamp
    offset: str  # T+ since declared (negative: before the declaration)
    status: str  # firing | resolved
    alertname: str
    summary: str
    source: str  # alertmanager | grafana
    link: str | None  # the alert's generator URL


def _offset(start: datetime, when: datetime) -> str:
    # As the timeline's offsets (context.offset), which imports this module.
    duration = format_duration(when - start)
    return "T" + duration if duration.startswith("-") else "T+" + duration


def time_to_detect(declared_at: datetime, first_alert_at: datetime | None) -> str | None:
    """First alert to declaration; "0s" when the incident was declared before any alert."""
    if first_alert_at is None:
        return None
    return format_duration(max(declared_at - first_alert_at, timedelta(0)))


def alerts_context(timeline: list[TimelineEvent], declared_at: datetime) -> dict[str, Any]:
    events = [e for e in timeline if e.kind is EventKind.ALERT and e.deleted_at is None]
    starts = []
    for e in events:
        if e.data.get("status") == "firing":
            starts.append(e.occurred_at)
    first = min(starts) if starts else None
    return {
        "alerts": [
            AlertItem(
                stamp(e.occurred_at),
                _offset(declared_at, e.occurred_at),
                str(e.data.get("status", "")),
                str(e.data.get("alertname", "")),
                str(e.data.get("summary", "")),
                e.actor,
                e.data.get("generator_url"),
            )
            for e in events
        ],
        "first_alert_at": stamp(first) if first else None,
        "ttd": time_to_detect(declared_at, first),
    }
