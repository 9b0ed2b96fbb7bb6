"""Grouping: one Alertmanager group (groupKey) is one incident or one offer, and each alert
(fingerprint) goes on record once as firing and once as resolved, however often the group is
re-sent. Pure: (what we knew, a notification) -> what changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.core.alerts.model import Alert, AlertStatus, Notification


@dataclass
class AlertGroup:
    """A group as we keep it: how it was routed and where it went. `generation` grows when a
    group fires again after its incident was resolved (it is routed afresh)."""

    source: str
    group_key: str
    receiver: str
    action: str  # the Action it was routed to
    created_at: datetime
    updated_at: datetime
    first_alert_at: datetime
    alertname: str
    summary: str
    service: str | None = None
    team: str | None = None
    rule: str | None = None
    resolve: bool = False
    incident_number: int | None = None
    platform: str | None = None
    channel_id: str | None = None  # where the offer was posted
    message_id: str | None = None  # the offer message, edited as the group changes
    silence_url: str | None = None
    cleared_told: bool = False  # "all N alerts resolved" said for the current episode
    generation: int = 1
    data: dict[str, Any] = field(default_factory=dict)
    revision: int = 0  # grows with every save: tells a cached copy of the alerts is current
    id: int | None = None


@dataclass(frozen=True)
class AlertRow:
    """One alert of a group, by fingerprint, as last heard."""

    group_id: int
    fingerprint: str
    alertname: str
    summary: str
    status: AlertStatus
    starts_at: datetime
    ends_at: datetime | None
    updated_at: datetime
    labels: dict[str, str] = field(default_factory=dict)
    generator_url: str | None = None


@dataclass(frozen=True)
class Transition:
    """An alert to put on record: it started firing, or it resolved."""

    alert: Alert
    status: AlertStatus
    at: datetime  # when it happened (the alert's startsAt or endsAt)


@dataclass(frozen=True)
class GroupUpdate:
    transitions: list[Transition]
    rows: list[AlertRow]  # new or changed rows to save
    firing: int
    resolved: int

    @property
    def total(self) -> int:
        return self.firing + self.resolved

    @property
    def all_resolved(self) -> bool:
        return self.total > 0 and self.firing == 0


def apply(
    group_id: int, known: dict[str, AlertRow], notification: Notification, now: datetime
) -> GroupUpdate:
    """Fold a notification into the group's alerts. `known` is updated in place (it is the
    group's state after this notification)."""
    transitions: list[Transition] = []
    changed: list[AlertRow] = []
    for alert in notification.alerts:
        row = known.get(alert.fingerprint)
        firing = alert.status is AlertStatus.FIRING
        refired = (
            row is not None
            and row.status is AlertStatus.RESOLVED
            and (alert.starts_at > row.starts_at)
        )
        if row is None or refired:
            # First heard of (or firing again): on record as firing, even when it arrives
            # already resolved (warroom was down while it fired).
            transitions.append(Transition(alert, AlertStatus.FIRING, alert.starts_at))
        if not firing and (row is None or row.status is AlertStatus.FIRING or refired):
            transitions.append(
                Transition(alert, AlertStatus.RESOLVED, alert.ends_at or alert.starts_at)
            )
        if row is None or refired or row.status is not alert.status:
            new = AlertRow(
                group_id,
                alert.fingerprint,
                alert.alertname,
                alert.summary,
                alert.status,
                alert.starts_at,
                None if firing else alert.ends_at,
                now,
                dict(alert.labels),
                alert.generator_url,
            )
            known[alert.fingerprint] = new
            changed.append(new)
        elif row.summary != alert.summary:
            known[alert.fingerprint] = replace(row, summary=alert.summary, updated_at=now)
            changed.append(known[alert.fingerprint])
    firing = sum(r.status is AlertStatus.FIRING for r in known.values())
    return GroupUpdate(transitions, changed, firing, len(known) - firing)


def describe(transition: Transition) -> str:
    """The timeline text of an alert: its alertname and summary, and firing or resolved."""
    alert = transition.alert
    summary = f": {alert.summary}" if alert.summary else ""
    return f"Alert {transition.status.value}: {alert.alertname}{summary}"


def source_key(group: AlertGroup, transition: Transition) -> str:
    """One timeline entry per alert per status (per firing episode), however often the
    group is re-sent or delivered twice."""
    return (
        f"alert:{group.id}:{transition.alert.fingerprint}:"
        f"{transition.alert.starts_at.isoformat()}:{transition.status.value}"
    )


def fires_anew(known: Mapping[str, AlertRow], n: Notification) -> bool:
    for alert in n.alerts:
        if alert.status is not AlertStatus.FIRING:
            continue
        row = known.get(alert.fingerprint)
        if row is None or (row.status is AlertStatus.RESOLVED and alert.starts_at > row.starts_at):
            return True
    return False


def replay(rows: list[AlertRow]) -> GroupUpdate:
    """An offered group's alerts as transitions, for the incident declared from it."""
    transitions = []
    for row in rows:
        alert = Alert(
            row.fingerprint,
            row.status,
            row.labels,
            {"summary": row.summary} if row.summary else {},
            row.starts_at,
            row.ends_at,
            row.generator_url,
        )
        transitions.append(Transition(alert, AlertStatus.FIRING, row.starts_at))
        if row.status is AlertStatus.RESOLVED:
            transitions.append(
                Transition(alert, AlertStatus.RESOLVED, row.ends_at or row.starts_at)
            )
    firing = sum(r.status is AlertStatus.FIRING for r in rows)
    return GroupUpdate(transitions, [], firing, len(rows) - firing)
