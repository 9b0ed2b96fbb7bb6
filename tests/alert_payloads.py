"""Alert webhook bodies shaped as Alertmanager 0.25 and Grafana send them (the fields of
Alertmanager's notify/webhook Message, version "4"; Grafana's documented webhook, version "1")."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ZERO = "0001-01-01T00:00:00Z"


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def alert(
    name: str = "HighErrorRate",
    *,
    status: str = "firing",
    service: str | None = "checkout",
    severity: str | None = "critical",
    summary: str = "Error rate above 5%",
    starts: datetime = T0,
    ends: datetime | None = None,
    **labels: str,
) -> dict[str, Any]:
    all_labels = {"alertname": name, **labels}
    if service is not None:
        all_labels["service"] = service
    if severity is not None:
        all_labels["severity"] = severity
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": summary} if summary else {},
        "startsAt": stamp(starts),
        "endsAt": stamp(ends) if ends else ZERO,
        "generatorURL": f"http://prometheus:9090/graph?g0.expr={name}",
        "fingerprint": fingerprint(all_labels),
    }


def notification(
    alerts: list[dict[str, Any]],
    *,
    group_key: str | None = None,
    group_by: tuple[str, ...] = ("alertname", "service"),
    version: str = "4",
) -> dict[str, Any]:
    """A webhook body for one group, as Alertmanager builds it."""
    first = alerts[0]["labels"]
    group_labels = {k: first[k] for k in group_by if k in first}
    common = {k: v for k, v in first.items() if all(a["labels"].get(k) == v for a in alerts)}
    common_ann = {
        k: v
        for k, v in alerts[0]["annotations"].items()
        if all(a["annotations"].get(k) == v for a in alerts)
    }
    key = group_key or "{}:" + "{" + ",".join(f'{k}="{v}"' for k, v in group_labels.items()) + "}"
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": "warroom",
        "status": "firing" if firing else "resolved",
        "alerts": alerts,
        "groupLabels": group_labels,
        "commonLabels": common,
        "commonAnnotations": common_ann,
        "externalURL": "http://alertmanager:9093",
        "version": version,
        "groupKey": key,
        "truncatedAlerts": 0,
    }


def resolved(a: dict[str, Any], ends: datetime) -> dict[str, Any]:
    return {**a, "status": "resolved", "endsAt": stamp(ends)}


def grafana(alerts: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    body = notification(alerts, version="1", **kwargs)
    for a in alerts:
        a.setdefault("silenceURL", "http://grafana:3000/alerting/silence/new?matchers=x")
        a.setdefault("dashboardURL", "")
        a.setdefault("panelURL", "")
        a.setdefault("values", {"B": 44.2})
    body.update(
        orgId=1,
        state="alerting",
        title=f"[FIRING:{len(alerts)}] {alerts[0]['labels']['alertname']}",
        message="**Firing**",
    )
    return body


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
