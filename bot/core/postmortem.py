"""Incident record -> postmortem Markdown that a team can commit as is."""

from __future__ import annotations

import re
from datetime import datetime

from bot.core.clock import format_duration
from bot.core.model import IncidentRecord, TaskState
from bot.core.views import TASK_MARK, current_roles, stamp

_MENTION = re.compile(r"(<!(?:here|channel|everyone)[^>]*>|@(?:here|channel|all|everyone)\b)")


def cell(text: str) -> str:
    """Make text safe inside a Markdown table cell: no pipes or newlines break the row, and
    chat-wide mentions are defused so pasting the document pings nobody."""
    text = _MENTION.sub(lambda m: "`" + m.group(0) + "`", text)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def quote(text: str) -> str:
    text = _MENTION.sub(lambda m: "`" + m.group(0) + "`", text)
    return "\n".join("> " + line for line in text.splitlines() or [""])


def render_postmortem(record: IncidentRecord, now: datetime) -> str:
    inc = record.incident
    roles = current_roles(record.roles)
    out: list[str] = [f"# {inc.ref}: {inc.title}", ""]
    if inc.description:
        out += [inc.description, ""]

    out += ["## Summary", "", "| | |", "| --- | --- |"]
    out.append(f"| Severity | {inc.severity} ({inc.severity.label}) |")
    out.append(f"| State | {inc.state} |")
    if inc.service:
        out.append(f"| Service | {cell(inc.service)} |")
    out.append(f"| Declared by | @{cell(inc.declared_by)} |")
    if inc.playbook:
        version = f" (version {inc.playbook_hash[:12]})" if inc.playbook_hash else ""
        out.append(f"| Playbook | {cell(inc.playbook)}{version} |")
    if inc.channel_name:
        out.append(f"| Channel | #{cell(inc.channel_name)} ({inc.platform}) |")
    out.append("")

    out += ["## Key times", "", "| Moment | Time (UTC) | Since declared |", "| --- | --- | --- |"]
    for label, when in (
        ("Declared", inc.declared_at),
        ("Acknowledged", inc.acknowledged_at),
        ("Mitigated", inc.mitigated_at),
        ("Resolved", inc.resolved_at),
    ):
        if when is None:
            out.append(f"| {label} | - | - |")
        else:
            out.append(f"| {label} | {stamp(when)} | {format_duration(when - inc.declared_at)} |")
    out.append("")
    if inc.acknowledged_at:
        out.append(
            f"- Time to acknowledge: {format_duration(inc.acknowledged_at - inc.declared_at)}"
        )
    if inc.mitigated_at:
        out.append(f"- Time to mitigate: {format_duration(inc.mitigated_at - inc.declared_at)}")
    if inc.resolved_at:
        out.append(f"- Time to resolve: {format_duration(inc.resolved_at - inc.declared_at)}")
    else:
        out.append(
            f"- Still open at export ({stamp(now)}), "
            f"{format_duration(now - inc.declared_at)} after declaring"
        )
    out.append("")

    out += ["## Roles and participants", ""]
    for role, user in roles.items():
        out.append(f"- {role}: @{user}")
    others = [p.user for p in record.participants if p.user not in roles.values()]
    if others:
        out.append("- participants: " + ", ".join(f"@{user}" for user in others))
    out.append("")

    out += ["## Status updates", ""]
    if not record.status_updates:
        out += ["None were posted.", ""]
    for update in record.status_updates:
        out.append(
            f"**{stamp(update.posted_at)}** ({update.severity}, {update.state}), @{update.author}:"
        )
        out += [quote(update.text), ""]

    if record.tasks:
        out += ["## Tasks", ""]
        for task in record.tasks:
            out.append(
                f"- {TASK_MARK[task.state]} {task.title}"
                + (" (skipped)" if task.state is TaskState.SKIPPED else "")
            )
        out.append("")

    out += [
        "## Timeline",
        "",
        "| Time (UTC) | T+ | Event | Who | What |",
        "| --- | --- | --- | --- | --- |",
    ]
    for event in record.timeline:
        if event.deleted_at is not None:
            continue
        offset = format_duration(event.occurred_at - inc.declared_at)
        out.append(
            f"| {event.occurred_at:%Y-%m-%d %H:%M:%S} | {offset} | {event.kind} "
            f"| @{cell(event.actor)} | {cell(event.text)} |"
        )
    out.append("")

    out += [
        "## Root cause",
        "",
        "_To be written._",
        "",
        "## What went well",
        "",
        "_To be written._",
        "",
        "## What went badly",
        "",
        "_To be written._",
        "",
        "## Follow-up actions",
        "",
        "_To be written._",
        "",
    ]
    return "\n".join(out)
