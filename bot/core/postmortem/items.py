"""What a postmortem template iterates over: small read-only records of preformatted values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One timeline event as the postmortem shows it."""

    at: str  # "2026-01-01 12:05:00" (UTC)
    offset: str  # "T+5m 00s" since declared
    kind: str
    actor: str
    text: str  # current text (edits applied)
    edited: bool
    highlight: bool
    highlighted_by: str | None
    original_text: str | None  # what was said before the first edit
    event: str = ""  # the kind for a reader: "Role", "Status update", "Task"


@dataclass(frozen=True)
class HistoryPoint:
    """A point in the severity or state history."""

    at: str
    offset: str
    value: str  # sev2 / monitoring
    label: str  # "major" for severities, the state again for states
    by: str


@dataclass(frozen=True)
class KeyTime:
    label: str  # Declared, Acknowledged, Mitigated, Resolved
    at: str | None
    offset: str | None


@dataclass(frozen=True)
class RoleItem:
    role: str
    user: str | None  # None: the playbook defines the role and nobody held it


@dataclass(frozen=True)
class ParticipantItem:
    user: str
    joined_at: str
    roles: list[str]


@dataclass(frozen=True)
class TaskItem:
    position: int
    checklist: str
    title: str
    state: str  # open / done / skipped
    mark: str  # [ ] / [x] / [-]
    assignee: str | None


@dataclass(frozen=True)
class Checklist:
    total: int
    done: int
    skipped: int
    open: int
    tasks: list[TaskItem]


@dataclass(frozen=True)
class StatusItem:
    at: str
    offset: str
    author: str
    severity: str
    state: str
    text: str


@dataclass(frozen=True)
class FollowUp:
    number: int
    text: str
    by: str
    at: str


@dataclass(frozen=True)
class Playbook:
    name: str
    version: str | None  # first 12 characters of the playbook's content hash
