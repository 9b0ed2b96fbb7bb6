"""Plain-text renderings of incidents for chat. Adapters may turn them into richer blocks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.core import messages
from bot.core.clock import format_duration
from bot.core.model import (
    Incident,
    IncidentOverview,
    RoleAssignment,
    StatusUpdate,
    Task,
    TaskState,
    TimelineEvent,
)

TASK_MARK = {TaskState.OPEN: "[ ]", TaskState.DONE: "[x]", TaskState.SKIPPED: "[-]"}


def current_roles(assignments: Iterable[RoleAssignment]) -> dict[str, str]:
    """Role -> current holder: the latest assignment of each role wins."""
    holders: dict[str, str] = {}
    for assignment in assignments:
        holders[assignment.role] = assignment.user
    return holders


def duration_since(start: datetime, end: datetime) -> str:
    return format_duration(end - start)


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def topic(incident: Incident, commander: str | None) -> str:
    parts = [
        f"{incident.ref} {incident.severity} ({incident.severity.label})",
        incident.state.value,
    ]
    if commander:
        parts.append(f"commander: @{commander}")
    return " | ".join(parts)


def summary(incident: Incident, commander: str | None) -> str:
    lines = [
        f"{incident.ref}: {incident.title}",
        f"Severity: {incident.severity} ({incident.severity.label})   State: {incident.state}",
        f"Commander: @{commander}" if commander else "Commander: nobody yet",
        f"Declared by @{incident.declared_by} at {stamp(incident.declared_at)}",
    ]
    if incident.service:
        lines.append(f"Service: {incident.service}")
    if incident.description:
        lines.append(f"Description: {incident.description}")
    lines.append("Post updates with /incident status TEXT; /incident help lists every command.")
    return "\n".join(lines)


def announcement(incident: Incident, channel_link: str) -> str:
    service = f" on {incident.service}" if incident.service else ""
    return (
        f"{incident.ref} declared ({incident.severity}, {incident.severity.label}){service}: "
        f"{incident.title}. Join {channel_link} to help."
    )


def private_announcement(incident: Incident) -> str:
    return (
        f"{incident.ref} is a private {incident.severity} ({incident.severity.label}) "
        "incident. Its responders are on it; details stay with them."
    )


def status_post(incident: Incident, update: StatusUpdate) -> str:
    return (
        f"Status update for {incident.ref} ({update.severity}, {update.state}) "
        f"by @{update.author}:\n{update.text}"
    )


def status_announcement(incident: Incident, update: StatusUpdate) -> str:
    return f"{incident.ref} {incident.title} ({update.severity}, {update.state}): {update.text}"


def resolved_announcement(incident: Incident, duration: str, text: str | None) -> str:
    tail = f": {text}" if text else "."
    return f"{incident.ref} {incident.title} resolved after {duration}{tail}"


def incident_line(incident: Incident, now: datetime) -> str:
    where = f"#{incident.channel_name}" if incident.channel_name else "(no channel)"
    age = duration_since(incident.declared_at, now)
    return (
        f"{incident.ref}  {incident.severity}  {incident.state:<13}  {where}  {incident.title}"
        f"  (declared {age} ago)"
    )


def incident_list(
    incidents: list[Incident], now: datetime, include_resolved: bool, *, hidden_private: int = 0
) -> str:
    """`hidden_private`: private incidents this user may not see, counted but not shown."""
    tail = [messages.hidden_private(hidden_private)] if hidden_private else []
    if not incidents:
        return "\n".join(
            [
                "No incidents yet."
                if include_resolved
                else "No open incidents. /incident list --all shows resolved ones too.",
                *tail,
            ]
        )
    return "\n".join([*(incident_line(incident, now) for incident in incidents), *tail])


def incident_detail(record: IncidentOverview, now: datetime) -> str:
    incident = record.incident
    roles = current_roles(record.roles)
    lines = [
        f"{incident.ref}: {incident.title}",
        f"Severity: {incident.severity} ({incident.severity.label})   State: {incident.state}",
        f"Channel: #{incident.channel_name}" if incident.channel_name else "Channel: none",
        f"Declared: {stamp(incident.declared_at)} by @{incident.declared_by}",
    ]
    if incident.service:
        lines.append(f"Service: {incident.service}")
    for label, when in (
        ("Acknowledged", incident.acknowledged_at),
        ("Mitigated", incident.mitigated_at),
        ("Resolved", incident.resolved_at),
    ):
        if when is not None:
            lines.append(f"{label}: {stamp(when)} (+{duration_since(incident.declared_at, when)})")
    end = incident.resolved_at or now
    lines.append(
        f"Duration: {duration_since(incident.declared_at, end)}"
        + ("" if incident.resolved_at else " so far")
    )
    if roles:
        lines.append("Roles: " + ", ".join(f"{role} @{user}" for role, user in roles.items()))
    if record.status_updates:
        last = record.status_updates[-1]
        lines.append(f"Last update ({stamp(last.posted_at)}, @{last.author}): {last.text}")
    return "\n".join(lines)


def timeline_lines(incident: Incident, events: list[TimelineEvent]) -> str:
    if not events:
        return f"{incident.ref} has no timeline events."
    rows = [f"Timeline of {incident.ref} (last {len(events)}):"]
    for event in events:
        offset = duration_since(incident.declared_at, event.occurred_at)
        text = event.text.replace("\n", " ")
        rows.append(
            f"{event.occurred_at:%H:%M:%S} T+{offset:<8} {event.kind:<17} @{event.actor}: {text}"
        )
    return "\n".join(rows)


def task_lines(incident: Incident, tasks: list[Task]) -> str:
    if not tasks:
        return f"{incident.ref} has no tasks. Add one with /incident task add TEXT."
    rows = [f"Tasks of {incident.ref}:"]
    for task in tasks:
        who = f" (@{task.assignee})" if task.assignee else ""
        rows.append(f"{task.position}. {TASK_MARK[task.state]} {task.title}{who}")
    done = sum(task.state is not TaskState.OPEN for task in tasks)
    rows.append(f"{done}/{len(tasks)} done or skipped. /incident task done N marks one done.")
    return "\n".join(rows)
