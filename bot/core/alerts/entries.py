"""The timeline entries of alerts, pure: an alert that fired or resolved, and the alerts a
notification left out (Alertmanager's truncatedAlerts). Keyed, so a re-sent group records
nothing twice."""

from __future__ import annotations

from datetime import datetime

from bot.core.alerts import groups
from bot.core.alerts import messages as say
from bot.core.alerts.groups import AlertGroup, Transition
from bot.core.alerts.model import AlertStatus
from bot.core.model import EventKind, TimelineEvent

TRUNCATED = "truncated"  # the status of the timeline entry for alerts the source left out


def events(
    group: AlertGroup, number: int, transitions: list[Transition], now: datetime
) -> list[TimelineEvent]:
    """Timeline entries, one per source key (a replayed alert may repeat a new one)."""
    found: dict[str | None, TimelineEvent] = {}
    for t in transitions:
        entry = event(group, number, t, now)
        found.setdefault(entry.source_key, entry)
    return list(found.values())


def event(group: AlertGroup, number: int, t: Transition, now: datetime) -> TimelineEvent:
    a = t.alert
    data = {
        "source": group.source,
        "group": group.id,
        "fingerprint": a.fingerprint,
        "status": t.status.value,
        "alertname": a.alertname,
        "summary": a.summary,
        "starts_at": a.starts_at.isoformat(),
        "ends_at": a.ends_at.isoformat()
        if a.ends_at and t.status is AlertStatus.RESOLVED
        else None,
        "generator_url": a.generator_url,
    }
    return TimelineEvent(
        number,
        EventKind.ALERT,
        group.source,
        groups.describe(t),
        occurred_at=t.at,
        recorded_at=now,
        data={k: v for k, v in data.items() if v is not None},
        source_key=groups.source_key(group, t),
    )


def truncated(group: AlertGroup, number: int, count: int, now: datetime) -> TimelineEvent:
    """On record once per count: the alerts of the group its source did not send."""
    text = say.truncated(group.source, count)
    return TimelineEvent(
        number,
        EventKind.ALERT,
        group.source,
        text,
        occurred_at=now,
        recorded_at=now,
        data={
            "source": group.source,
            "group": group.id,
            "status": TRUNCATED,
            "alertname": group.alertname,
            "summary": text,
            "truncated": count,
        },
        source_key=f"alert:{group.id}:truncated:{count}",
    )
