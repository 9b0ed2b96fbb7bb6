"""IncidentRecord -> the context a postmortem template renders.

Values are plain data: strings as recorded (templates escape them with the `cell`, `quote` and
`inline` filters; whatever they print unfiltered still has mentions defused), times already
formatted as UTC stamps and T+ offsets, so a playbook's template needs no date arithmetic.
The full list of names is in bot/core/postmortem/__init__.py.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from bot.core.clock import format_duration
from bot.core.model import (
    EventKind,
    IncidentRecord,
    Severity,
    State,
    TaskState,
    TimelineEvent,
)
from bot.core.postmortem.alerts import alerts_context
from bot.core.postmortem.charts import Interval, state_chart
from bot.core.postmortem.items import (
    Checklist,
    Entry,
    FollowUp,
    HistoryPoint,
    KeyTime,
    ParticipantItem,
    Playbook,
    RoleItem,
    StatusItem,
    TaskItem,
)
from bot.core.views import TASK_MARK, current_roles, stamp

# Exports of the postmortem itself are bookkeeping, not part of what happened.
_LEFT_OUT = {EventKind.POSTMORTEM_EXPORTED}


def offset(start: datetime, when: datetime) -> str:
    duration = format_duration(when - start)
    return "T" + duration if duration.startswith("-") else "T+" + duration


# Timeline kinds as a reader says them; a kind missing here reads "Some kind".
EVENT_NAMES = {
    EventKind.DECLARED: "Declared",
    EventKind.SEVERITY_CHANGED: "Severity",
    EventKind.STATE_CHANGED: "State",
    EventKind.ROLE_ASSIGNED: "Role",
    EventKind.STATUS_UPDATE: "Status update",
    EventKind.NOTE: "Note",
    EventKind.MESSAGE: "Message",
    EventKind.TASK_CHANGED: "Task",
    EventKind.PAGED: "Paged",
    EventKind.ACKNOWLEDGED: "Acknowledged",
    EventKind.REMINDER: "Reminder",
    EventKind.RESOLVED: "Resolved",
    EventKind.FOLLOWUP: "Follow-up",
}


def _time(when: datetime) -> str:
    """A time for a table whose header already says (UTC)."""
    return when.isoformat(" ")[:19]


def build_context(record: IncidentRecord, now: datetime) -> dict[str, Any]:
    inc = record.incident
    start = inc.declared_at
    end = inc.resolved_at or now
    shown = [e for e in record.timeline if e.deleted_at is None and e.kind not in _LEFT_OUT]
    timeline = [_entry(e, start) for e in shown]
    severities = _history(
        record.timeline,
        start,
        inc.declared_by,
        EventKind.SEVERITY_CHANGED,
        _first_severity(record),
        lambda v: Severity(v).label,
    )
    states = _history(
        record.timeline,
        start,
        inc.declared_by,
        EventKind.STATE_CHANGED,
        State.INVESTIGATING.value,
        lambda v: v,
    )
    severity_spans = _intervals(
        record.timeline, start, end, EventKind.SEVERITY_CHANGED, _first_severity(record)
    )
    state_spans = _intervals(
        record.timeline, start, end, EventKind.STATE_CHANGED, State.INVESTIGATING.value
    )
    roles = current_roles(record.roles)
    time_at: Counter[str] = Counter()
    for span in severity_spans:
        time_at[span.name] += int((span.end - span.start).total_seconds())
    key_times = [
        KeyTime(label, _time(when) if when else None, offset(start, when) if when else None)
        for label, when in (
            ("Declared", inc.declared_at),
            ("Acknowledged", inc.acknowledged_at),
            ("Mitigated", inc.mitigated_at),
            ("Resolved", inc.resolved_at),
        )
    ]
    resolutions = [e.text for e in shown if e.kind is EventKind.RESOLVED and e.text != "Resolved"]
    tasks = [
        TaskItem(t.position, t.checklist, t.title, t.state.value, TASK_MARK[t.state], t.assignee)
        for t in record.tasks
    ]
    state_count = Counter(t.state for t in record.tasks)
    peak = min((Severity(s.value) for s in severities), default=inc.severity)
    return {
        "incident": inc,
        "ref": inc.ref,
        "title": inc.title,
        "description": inc.description,
        "severity": inc.severity.value,
        "severity_label": inc.severity.label,
        "peak_severity": peak.value,
        "peak_severity_label": peak.label,
        "state": inc.state.value,
        "service": inc.service,
        "platform": inc.platform,
        "channel": inc.channel_name,
        "declared_by": inc.declared_by,
        "commander": roles.get("commander"),
        "is_open": inc.is_open,
        "exported_at": stamp(now),
        "duration": format_duration(end - start),
        "key_times": key_times,
        "tta": _since(start, inc.acknowledged_at),
        "ttm": _since(start, inc.mitigated_at),
        "ttr": _since(start, inc.resolved_at),
        "resolution": resolutions[-1] if resolutions else None,
        "severity_history": severities,
        "state_history": states,
        "time_at_severity": [
            (sev.value, format_duration(timedelta(seconds=time_at[sev.value])))
            for sev in Severity
            if sev.value in time_at
        ],
        "roles": [RoleItem(role, user) for role, user in roles.items()]
        # The playbook's roles that nobody held: a gap a postmortem should show.
        + [RoleItem(role, None) for role in _playbook_roles(record) if role not in roles],
        "participants": [
            ParticipantItem(
                p.user, stamp(p.joined_at), [r for r, u in roles.items() if u == p.user]
            )
            for p in record.participants
        ],
        "playbook": Playbook(inc.playbook, inc.playbook_hash[:12] if inc.playbook_hash else None)
        if inc.playbook
        else None,
        "checklist": Checklist(
            total=len(tasks),
            done=state_count[TaskState.DONE],
            skipped=state_count[TaskState.SKIPPED],
            open=state_count[TaskState.OPEN],
            tasks=tasks,
        ),
        "status_updates": [
            StatusItem(
                stamp(u.posted_at),
                offset(start, u.posted_at),
                u.author,
                u.severity.value,
                u.state.value,
                u.text,
            )
            for u in record.status_updates
        ],
        "highlights": [e for e in timeline if e.highlight],
        **alerts_context(record.timeline, start),
        "timeline": timeline,
        "followups": [
            FollowUp(n, e.text, e.actor, stamp(e.occurred_at))
            for n, e in enumerate((e for e in shown if e.kind is EventKind.FOLLOWUP), 1)
        ],
        "state_chart": state_chart(
            inc.ref,
            state_spans,
            severity_spans,
            [
                (k.label, when)
                for k, when in zip(
                    key_times,
                    (inc.declared_at, inc.acknowledged_at, inc.mitigated_at, inc.resolved_at),
                    strict=True,
                )
                if when is not None
            ],
        ),
    }


def _since(start: datetime, when: datetime | None) -> str | None:
    return format_duration(when - start) if when is not None else None


def _entry(event: TimelineEvent, start: datetime) -> Entry:
    data = event.data
    text = event.text
    # The bot's own entries name people as the rest of the document does: @alice.
    if event.kind is EventKind.ROLE_ASSIGNED and data.get("user") and data.get("role"):
        text = f"@{data['user']} is {data['role']}"
    elif event.kind is EventKind.PAGED and data.get("target"):
        text = f"Paged @{data['target']}"
    return Entry(
        # isoformat is several times faster than strftime, and this runs once per event.
        at=event.occurred_at.isoformat(" ")[:19],
        offset=offset(start, event.occurred_at),
        kind=event.kind.value,
        actor=event.actor,
        text=text,
        edited=bool(data.get("edited")),
        highlight=bool(data.get("highlight")),
        highlighted_by=data.get("highlighted_by"),
        original_text=data.get("original_text"),
        event=EVENT_NAMES.get(event.kind) or event.kind.value.replace("_", " ").capitalize(),
    )


def _playbook_roles(record: IncidentRecord) -> list[str]:
    """The roles of the playbook that ran, as the declared event recorded them."""
    for event in record.timeline:
        if event.kind is EventKind.DECLARED:
            return [str(role) for role in event.data.get("roles") or []]
    return []


def _first_severity(record: IncidentRecord) -> str:
    """The severity the incident was declared with (it may have changed since)."""
    for event in record.timeline:
        if event.kind is EventKind.DECLARED and "severity" in event.data:
            return str(event.data["severity"])
        if event.kind is EventKind.SEVERITY_CHANGED and "from" in event.data:
            return str(event.data["from"])
    return record.incident.severity.value


def _changes(events: list[TimelineEvent], kind: EventKind) -> list[TimelineEvent]:
    return [e for e in events if e.kind is kind and "to" in e.data]


def _history(
    events: list[TimelineEvent],
    start: datetime,
    declared_by: str,
    kind: EventKind,
    first: str,
    label: Any,
) -> list[HistoryPoint]:
    history = [HistoryPoint(_time(start), offset(start, start), first, label(first), declared_by)]
    for event in _changes(events, kind):
        to = str(event.data["to"])
        history.append(
            HistoryPoint(
                _time(event.occurred_at),
                offset(start, event.occurred_at),
                to,
                label(to),
                event.actor,
            )
        )
    return history


def _intervals(
    events: list[TimelineEvent], start: datetime, end: datetime, kind: EventKind, first: str
) -> list[Interval]:
    """Consecutive spans of one value (a severity, a state) from declared to `end`."""
    spans: list[Interval] = []
    current, since = first, start
    for event in _changes(events, kind):
        spans.append(Interval(current, since, max(event.occurred_at, since)))
        current, since = str(event.data["to"]), max(event.occurred_at, since)
    if kind is EventKind.STATE_CHANGED and current == State.RESOLVED.value:
        spans.append(Interval(current, since, since))  # a moment, not a span
    else:
        spans.append(Interval(current, since, max(end, since)))
    return spans
