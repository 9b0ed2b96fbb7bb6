"""What alert intake says in chat, in one place."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.alerts.groups import AlertGroup


def title(alertname: str, summary: str, grafana_title: str | None = None) -> str:
    if grafana_title:
        return grafana_title[:150]
    return (f"{alertname}: {summary}" if summary else alertname)[:150]


def lines(texts: Sequence[str]) -> str:
    return "\n".join(texts)


def more(count: int) -> str:
    noun = "alert" if count == 1 else "alerts"
    return (
        f"... and {count} more {noun} (an alert storm: they are all on the timeline, "
        "/incident timeline)"
    )


VENDORS = {"alertmanager": "Alertmanager", "grafana": "Grafana"}


def truncated(source: str, count: int) -> str:
    """Alertmanager's truncatedAlerts: the group had more alerts than its max_alerts."""
    noun = "alert" if count == 1 else "alerts"
    vendor = VENDORS.get(source, source)
    return f"... and {count} more {noun} not sent by {vendor} (its max_alerts); see {vendor}."


def attached(group: AlertGroup, firing: int) -> str:
    return (
        f"Alerts attached from {group.source} group {group.alertname}"
        f" ({firing} firing); they go on the timeline."
    )


def all_resolved(total: int) -> str:
    noun = "alert" if total == 1 else "alerts"
    return f"all {total} {noun} resolved; /incident resolve?"


def resolved_by_alerts(total: int) -> str:
    noun = "alert" if total == 1 else "alerts"
    return f"All {total} {noun} resolved (the alert rule resolves the incident)."


def offer(
    group: AlertGroup, oncall: Sequence[str], firing: int, resolved: int, declared: str | None
) -> str:
    who = group.team or "no owning team found"
    if oncall:
        who += " on call: " + ", ".join(f"@{u}" for u in oncall)
    service = group.service or "an unknown service"
    summary = f": {group.summary}" if group.summary else ""
    out = [
        f"Alert for {service} ({who}): {group.alertname}{summary}",
        f"{firing} firing, {resolved} resolved.",
    ]
    if group.data.get("truncated"):
        out.append(truncated(group.source, int(group.data["truncated"])))
    if group.silence_url:
        out.append(f"Silence: {group.silence_url}")
    if declared:
        out.append(f"Declared as {declared}.")
    elif firing:
        target = f" service:{group.service}" if group.service else ""
        out.append(f"Declare it with the button, or: /incident declare sev2{target} TITLE")
    return "\n".join(out)


def nobody_on_call(team: str | None) -> str:
    if team is None:
        return "(Not sent to an on-call by direct message: no owning team found.)"
    return (
        f"(Not sent to an on-call by direct message: nobody is on call for {team} now; "
        "check the team's rotation in the catalog.)"
    )


def no_direct_messages(user: str, platform: str) -> str:
    return f"(Not sent to @{user} by direct message: {platform} has no direct messages.)"


def direct_message_failed(user: str, reason: str) -> str:
    return f"(The direct message to @{user} failed: {reason}; posted here instead.)"


NO_SUCH_OFFER = "That alert offer no longer exists; declare with /incident declare."


def already_declared(ref: str) -> str:
    return f"These alerts are already {ref}."


def declared(ref: str) -> str:
    return f"Declared {ref} from the alerts; its channel has them on the timeline."
