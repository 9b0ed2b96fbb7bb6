"""SQLModel tables. Change them only together with a migration in migrations/versions/."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from bot.store.types import JSONData, UTCDateTime

# Named constraints, so migrations can refer to them (SQLite batch mode needs names too).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _incident_fk(*, index: bool = True) -> Any:
    """The incident a row belongs to. index=False where another index or unique constraint
    already starts with incident_number (an index of its own would only slow writes)."""
    return Column(
        Integer, ForeignKey("incident.number", ondelete="CASCADE"), nullable=False, index=index
    )


class IncidentRow(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("platform", "channel_id", name="uq_incident_channel"),
        # A service's open incident, newest first (alerts attach to it): a keyed lookup.
        Index("ix_incident_service", "service", "number"),
    )

    # The INC-N number is the key: it is what people type, and it never changes.
    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    title: str
    severity: str = Field(max_length=8)
    state: str = Field(max_length=16)
    service: str | None = None
    private: bool = False
    description: str | None = None
    platform: str = Field(max_length=32)
    channel_id: str | None = None
    channel_name: str | None = None
    playbook: str | None = None
    playbook_hash: str | None = None
    declared_at: datetime = Field(sa_type=UTCDateTime, index=True)  # `warroom report`
    declared_by: str
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    mitigated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    summary_message_id: str | None = None
    checklist_message_id: str | None = None


class TimelineEventRow(SQLModel, table=True):
    __tablename__ = "timeline_event"
    __table_args__ = (Index("ix_timeline_event_order", "incident_number", "occurred_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_number: int = Field(sa_column=_incident_fk(index=False))
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=32)
    actor: str
    text: str
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONData)
    source_key: str | None = Field(default=None, unique=True)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RoleAssignmentRow(SQLModel, table=True):
    __tablename__ = "role_assignment"

    id: int | None = Field(default=None, primary_key=True)
    incident_number: int = Field(sa_column=_incident_fk())
    role: str
    user: str
    assigned_at: datetime = Field(sa_type=UTCDateTime)
    assigned_by: str


class ParticipantRow(SQLModel, table=True):
    __tablename__ = "participant"
    __table_args__ = (UniqueConstraint("incident_number", "user", name="uq_participant"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_number: int = Field(sa_column=_incident_fk(index=False))
    user: str
    joined_at: datetime = Field(sa_type=UTCDateTime)


class TaskRow(SQLModel, table=True):
    __tablename__ = "task"
    __table_args__ = (UniqueConstraint("incident_number", "position", name="uq_task_position"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_number: int = Field(sa_column=_incident_fk(index=False))
    checklist: str
    position: int
    title: str
    state: str = Field(default="open", max_length=16)
    assignee: str | None = None
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    assignee_role: str | None = None


class StatusUpdateRow(SQLModel, table=True):
    __tablename__ = "status_update"

    id: int | None = Field(default=None, primary_key=True)
    incident_number: int = Field(sa_column=_incident_fk())
    text: str
    author: str
    posted_at: datetime = Field(sa_type=UTCDateTime)
    severity: str = Field(max_length=8)
    state: str = Field(max_length=16)


class ProcessedRequestRow(SQLModel, table=True):
    """Idempotency keys of requests already handled (Slack event_id, form submissions)."""

    __tablename__ = "processed_request"

    key: str = Field(primary_key=True)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)


class ReminderRow(SQLModel, table=True):
    """Durable reminders; the ticker claims due rows (see bot/schedule/ticker.py)."""

    __tablename__ = "reminder"
    __table_args__ = (Index("ix_reminder_due", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_number: int = Field(sa_column=_incident_fk())
    kind: str = Field(max_length=32)
    due_at: datetime = Field(sa_type=UTCDateTime)
    text: str = ""
    target: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONData)
    state: str = Field(default="pending", max_length=16)
    claimed_by: str | None = None
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    key: str | None = Field(default=None, unique=True)
    attempts: int = 0  # failed attempts to fire it; `failed` after the ticker's bound
    error: str | None = None


class InboxRow(SQLModel, table=True):
    """Inbound events and commands, recorded before they are acknowledged (bot/store/inbox.py).
    `key` is the platform's id (Slack event_id, a command's trigger_id): a redelivery is a
    conflict, not a second row. Rows stay `pending` until the change they cause is committed,
    in the same transaction that marks them `done`."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_pending", "state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    platform: str = Field(max_length=32)
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONData)
    received_at: datetime = Field(sa_type=UTCDateTime)
    state: str = Field(default="pending", max_length=16)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxRow(SQLModel, table=True):
    """Chat side effects, written in the transaction of the change that causes them and
    delivered by leased, fenced workers (bot/store/outbox.py, bot/schedule/outbox.py). Rows of
    one `lane` (a channel's messages, or its topic, members or pins) are delivered in id
    order; `after` names a row whose result this one needs (the channel it posts a link to)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "available_at"),
        Index("ix_outbox_lane", "lane", "state", "id"),
        # The claim's walk over lanes with pending rows (bot/store/outbox.py): only pending
        # rows, so delivered history never lengthens it.
        Index(
            "ix_outbox_pending",
            "lane",
            "id",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    platform: str = Field(max_length=32)
    lane: str
    after: int | None = None
    kind: str = Field(max_length=32)
    args: dict[str, Any] = Field(default_factory=dict, sa_type=JSONData)
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    available_at: datetime = Field(sa_type=UTCDateTime)
    claimed_by: str | None = None
    claim_token: str | None = None
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSONData)
    error: str | None = None
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AlertGroupRow(SQLModel, table=True):
    """An alert group (Alertmanager's groupKey) and where it went: an incident or an offer.
    A group that fires again after its incident is resolved gets a new generation."""

    __tablename__ = "alert_group"
    __table_args__ = (
        UniqueConstraint("source", "group_key", "generation", name="uq_alert_group_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    group_key: str
    generation: int = 1
    receiver: str
    action: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    first_alert_at: datetime = Field(sa_type=UTCDateTime)
    alertname: str
    summary: str
    service: str | None = None
    team: str | None = None
    rule: str | None = None
    resolve: bool = False
    incident_number: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("incident.number", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    platform: str | None = Field(default=None, max_length=32)
    channel_id: str | None = None
    message_id: str | None = None
    silence_url: str | None = None
    cleared_told: bool = False
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONData)
    revision: int = 0


class AlertRowRow(SQLModel, table=True):
    """One alert of a group, by fingerprint, as last heard."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("group_id", "fingerprint", name="uq_alert_fingerprint"),)

    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: uq_alert_fingerprint leads with group_id.
    group_id: int = Field(
        sa_column=Column(Integer, ForeignKey("alert_group.id", ondelete="CASCADE"), nullable=False)
    )
    fingerprint: str
    alertname: str
    summary: str
    status: str = Field(max_length=16)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    labels: dict[str, Any] = Field(default_factory=dict, sa_type=JSONData)
    generator_url: str | None = None


class AlertBudgetRow(SQLModel, table=True):
    """A team's alert lines in one storm window (bot/core/alerts/storm.py), shared by every
    replica: counted by one upsert in the transaction that records the alerts."""

    __tablename__ = "alert_budget"

    team: str = Field(primary_key=True)
    window_start: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    lines: int = 0  # lines asked for in the window (the first `limit` were posted)


class AlertOverflowRow(SQLModel, table=True):
    """The lines an incident held back in a team's storm window, and the one "and N more"
    message that counts them."""

    __tablename__ = "alert_overflow"

    team: str = Field(primary_key=True)
    window_start: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    incident_number: int = Field(primary_key=True)
    more: int = 0
    message_id: str | None = None  # an outbox stand-in until delivered, on a database


metadata = SQLModel.metadata
