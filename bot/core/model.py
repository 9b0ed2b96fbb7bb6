"""Plain domain types. Storage and chat adapters translate to and from these."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple


class Severity(StrEnum):
    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"

    @property
    def label(self) -> str:
        return SEVERITY_LABELS[self]


SEVERITY_LABELS = {
    Severity.SEV1: "critical",
    Severity.SEV2: "major",
    Severity.SEV3: "minor",
    Severity.SEV4: "low",
}


class State(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


# Order matters: an incident normally moves forward through these, and the key times
# (acknowledged, mitigated) are set the first time it reaches a state at or past them.
STATE_ORDER = list(State)


class EventKind(StrEnum):
    DECLARED = "declared"
    SEVERITY_CHANGED = "severity_changed"
    STATE_CHANGED = "state_changed"
    ROLE_ASSIGNED = "role_assigned"
    STATUS_UPDATE = "status_update"
    NOTE = "note"
    MESSAGE = "message"
    TASK_CHANGED = "task_changed"
    PAGED = "paged"
    ACKNOWLEDGED = "acknowledged"
    REMINDER = "reminder"
    RESOLVED = "resolved"
    POSTMORTEM_EXPORTED = "postmortem_exported"
    FOLLOWUP = "followup"  # an action item for after the incident (postmortem follow-ups)
    ALERT = "alert"  # an alert of the incident's alert group fired or resolved (bot/core/alerts)


class TaskState(StrEnum):
    OPEN = "open"
    DONE = "done"
    SKIPPED = "skipped"


INCIDENT_REF = re.compile(r"^(?:inc-?)?(\d{1,9})$", re.IGNORECASE)


def incident_ref(number: int) -> str:
    return f"INC-{number}"


@dataclass
class Incident:
    number: int
    title: str
    severity: Severity
    state: State
    declared_at: datetime
    declared_by: str
    platform: str
    service: str | None = None
    private: bool = False
    description: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    playbook: str | None = None
    playbook_hash: str | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    # Messages the bot keeps editing in place as the incident changes.
    summary_message_id: str | None = None
    checklist_message_id: str | None = None

    @property
    def ref(self) -> str:
        return incident_ref(self.number)

    @property
    def is_open(self) -> bool:
        return self.state is not State.RESOLVED


@dataclass
class TimelineEvent:
    incident_number: int
    kind: EventKind
    actor: str
    text: str
    occurred_at: datetime
    recorded_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    # Platform identity of the thing that caused the event (e.g. a Slack event_id): a second
    # delivery of the same thing carries the same key and is recorded once.
    source_key: str | None = None
    deleted_at: datetime | None = None
    id: int | None = None


class MessageRow(NamedTuple):
    """A chat message for the timeline, written in bulk by Store.record_messages: a MESSAGE
    event with no data. A plain tuple, because ingest makes one per message under load."""

    incident_number: int
    actor: str
    text: str
    occurred_at: datetime
    recorded_at: datetime
    source_key: str | None = None


@dataclass
class RoleAssignment:
    incident_number: int
    role: str
    user: str
    assigned_at: datetime
    assigned_by: str


@dataclass
class Participant:
    incident_number: int
    user: str
    joined_at: datetime


@dataclass
class Task:
    incident_number: int
    checklist: str
    position: int
    title: str
    state: TaskState = TaskState.OPEN
    assignee: str | None = None
    due_at: datetime | None = None
    id: int | None = None
    # The playbook role that owns the task: its current holder is reminded when it is due.
    assignee_role: str | None = None


@dataclass
class StatusUpdate:
    incident_number: int
    text: str
    author: str
    posted_at: datetime
    severity: Severity
    state: State


@dataclass
class Change:
    """Everything one command changes, persisted atomically by Store.commit."""

    incident: Incident | None = None
    events: list[TimelineEvent] = field(default_factory=list)
    roles: list[RoleAssignment] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    status_updates: list[StatusUpdate] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)


@dataclass
class IncidentRecord:
    """An incident with everything recorded about it: what a postmortem is made from."""

    incident: Incident
    timeline: list[TimelineEvent]
    roles: list[RoleAssignment]
    participants: list[Participant]
    status_updates: list[StatusUpdate]
    tasks: list[Task]


@dataclass
class IncidentOverview:
    """What `/incident show` prints: the incident, its roles and status updates, without the
    timeline (which may hold 10,000 events that show does not print)."""

    incident: Incident
    roles: list[RoleAssignment]
    status_updates: list[StatusUpdate]


class ReminderState(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"
    FAILED = "failed"  # its firing failed every attempt (bot/schedule/ticker.py)


@dataclass
class Reminder:
    """Something to say in an incident channel at a time. The reminder table is the truth;
    a ticker claims due ones (see bot/schedule), so they survive restarts."""

    incident_number: int
    kind: str  # status_update, task_due, retrospective, remind
    due_at: datetime
    text: str = ""
    target: str | None = None  # a user to mention, or "role:NAME" resolved when it fires
    data: dict[str, Any] = field(default_factory=dict)
    state: ReminderState = ReminderState.PENDING
    claimed_by: str | None = None
    lease_until: datetime | None = None
    fired_at: datetime | None = None
    # Idempotency: scheduling the same key twice (a re-run after a crash) keeps one.
    key: str | None = None
    id: int | None = None
    # Failed attempts to fire it so far, and the last one's reason.
    attempts: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Invocation:
    """Who ran a command, on which platform, in which channel."""

    user: str
    platform: str
    channel_id: str | None = None
