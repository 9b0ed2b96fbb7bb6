"""What an alert source tells us: a notification about one group of alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str | None = None
    silence_url: str | None = None  # Grafana sends one per alert

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname") or "(no alertname)"

    @property
    def summary(self) -> str:
        a = self.annotations
        return a.get("summary") or a.get("description") or a.get("message") or ""


@dataclass(frozen=True)
class Notification:
    """One webhook delivery: Alertmanager's v4 payload, or Grafana's (the same plus extras).
    Alertmanager sends every alert of the group each time, firing and (with send_resolved)
    resolved ones."""

    source: str  # "alertmanager" or "grafana"
    receiver: str
    status: AlertStatus
    group_key: str
    alerts: tuple[Alert, ...]
    group_labels: dict[str, str] = field(default_factory=dict)
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    external_url: str | None = None
    truncated_alerts: int = 0
    title: str | None = None  # Grafana's ready-made title
    extra: dict[str, Any] = field(default_factory=dict)  # Grafana: orgId, state, URLs

    @property
    def labels(self) -> dict[str, str]:
        """The labels routing looks at: what every alert shares, else the first alert's."""
        first = self.alerts[0].labels if self.alerts else {}
        return {**first, **self.common_labels}

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname") or "(no alertname)"

    @property
    def summary(self) -> str:
        a = self.common_annotations
        found = a.get("summary") or a.get("description")
        if found:
            return found
        return next((alert.summary for alert in self.alerts if alert.summary), "")

    @property
    def silence_url(self) -> str | None:
        """Where to silence this group: Grafana's link, else Alertmanager's silence form with
        the group's labels filled in."""
        if self.extra.get("silenceURL"):
            return str(self.extra["silenceURL"])
        found = next((a.silence_url for a in self.alerts if a.silence_url), None)
        if found or not self.external_url:
            return found
        matchers = ",".join(f'{k}="{v}"' for k, v in sorted(self.group_labels.items()))
        return f"{self.external_url.rstrip('/')}/#/silences/new?filter=" + quote(
            "{" + matchers + "}"
        )
