"""Playbook schema (pydantic) and validation of an already-parsed mapping.

Authors write YAML; bot/playbooks/ parses it (keeping node positions) and hands the mapping
here. Everything that can be checked without the file lives in this module, so the engine and
the service depend on nothing but plain data.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.core.model import Severity, State

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_PATTERN = r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"


def parse_duration(text: str) -> timedelta:
    """`15m`, `1h30m`, `2d`, `90s` -> timedelta; ValueError says how to write one."""
    match = _DURATION.match(text.strip().replace(" ", ""))
    if not text.strip() or match is None:
        raise ValueError(f"bad duration '{text}': write it like 15m, 1h30m, 2d or 45s")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if delta <= timedelta(0):
        raise ValueError(f"bad duration '{text}': it must be longer than zero")
    return delta


def format_duration_spec(delta: timedelta) -> str:
    """The inverse of parse_duration, for JSON output and messages (`1h30m`)."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        shown = repr(value).replace("{", "(").replace("}", ")")
        raise PydanticCustomError(
            "duration", f"bad duration {shown}: write it as text like 15m, 1h30m or 2d"
        )
    try:
        return parse_duration(value)
    except ValueError as error:
        raise PydanticCustomError("duration", str(error)) from None


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration_spec, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["15m", "1h30m"]}),
]

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]


class Spec(BaseModel):
    """Base of every playbook section: unknown keys are errors (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AppliesTo(Spec):
    severities: list[Severity] = []
    services: list[str] = []
    labels: list[str] = []


class RoleSpec(Spec):
    name: Name
    description: str = ""
    who: list[str] = Field(default=[], description="users who may hold the role (empty: anyone)")


class InviteSpec(Spec):
    users: list[str] = []
    teams: list[str] = []


class StatusUpdates(Spec):
    every: dict[Severity, Duration] = Field(
        description="how often a status update is due, per severity (none: no reminders)"
    )
    message: str = "Time for a status update on {incident}: /incident status TEXT"


class Until(Spec):
    """What makes a reminder needless: it stays quiet when, as it falls due, every condition
    given holds."""

    roles: list[Name] = Field(default=[], description="these roles are all held")
    status_update: bool = Field(False, description="a status update has been posted")


class TaskSpec(Spec):
    # At most what /incident task add accepts, so every checklist line fits a Block Kit section.
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    assignee: Name | None = Field(None, description="role that owns the task")
    due_after: Duration | None = None
    until: Until | None = Field(None, description="no due reminder once this holds")


class Checklist(Spec):
    name: Name
    start: Literal["declared", "resolved", "manual"] = Field(
        "declared", description="when the tasks are added (manual: only by add_checklist)"
    )
    tasks: list[TaskSpec] = Field(min_length=1)


class Condition(Spec):
    severities: list[Severity] = []
    states: list[State] = []
    services: list[str] = []


class Remind(Spec):
    after: Duration
    text: str
    role: Name | None = None
    until: Until | None = Field(None, description="not said once this holds")


class AssignRole(Spec):
    role: Name
    user: str


ACTION_KEYS = ("post", "invite", "page", "add_checklist", "remind", "assign_role")


class Action(Spec):
    """One of: post, invite, page, add_checklist, remind, assign_role."""

    post: str | None = None
    invite: InviteSpec | None = None
    page: str | None = None
    add_checklist: Name | None = None
    remind: Remind | None = None
    assign_role: AssignRole | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [key for key in ACTION_KEYS if getattr(self, key) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "one_action",
                "an action has exactly one of {keys} (got {got})",
                {"keys": ", ".join(ACTION_KEYS), "got": ", ".join(given) or "none"},
            )
        return self

    @property
    def kind(self) -> str:
        return next(key for key in ACTION_KEYS if getattr(self, key) is not None)


TriggerEvent = Literal[
    "declared", "severity_changed", "state_changed", "resolved", "task_done", "status_overdue"
]


class Trigger(Spec):
    on: TriggerEvent
    when: Condition | None = None
    do: list[Action] = Field(min_length=1)


class Permissions(Spec):
    """Roles that may steer an incident besides its commander (who always may) and the
    installation's admins (WARROOM_ADMINS). Everyone else in the incident may still post
    status updates, notes, tasks and follow-ups."""

    severity: list[Name] = Field(default=[], description="may change the severity")
    state: list[Name] = Field(default=[], description="may change the state (not resolve)")
    resolve: list[Name] = Field(default=[], description="may resolve")
    reopen: list[Name] = Field(default=[], description="may reopen a resolved incident")
    roles: list[Name] = Field(default=[], description="may assign roles (commander included)")

    def roles_for(self, action: str) -> tuple[str, ...]:
        return tuple(getattr(self, action, ()))


class Retrospective(Spec):
    after: Duration = timedelta(days=2)
    message: str = (
        "{incident} was resolved: schedule the retrospective and export the postmortem "
        "with /incident postmortem."
    )


class Playbook(Spec):
    name: Name
    description: str = ""
    applies_to: AppliesTo = AppliesTo()
    private: bool = Field(False, description="always open a private channel")
    announce_private: bool = Field(
        False,
        description="announce a private incident anyway, without its title, service or "
        "channel (default: a private incident is not announced)",
    )
    roles: list[RoleSpec] = []
    invite: InviteSpec = InviteSpec()
    announcement: str | None = Field(None, description="posted in the incident channel")
    status_updates: StatusUpdates | None = None
    checklists: list[Checklist] = []
    triggers: list[Trigger] = []
    retrospective: Retrospective | None = None
    permissions: Permissions = Field(
        Permissions(),
        description="roles besides the commander that may change severity, state, resolve, "
        "reopen and assign roles (default: the commander only)",
    )

    def role_names(self) -> tuple[str, ...]:
        # Commander is always a role: declaring assigns it.
        names = [role.name for role in self.roles]
        return tuple(dict.fromkeys(["commander", *names]))

    def role(self, name: str) -> RoleSpec | None:
        return next((role for role in self.roles if role.name == name), None)

    def checklist(self, name: str) -> Checklist | None:
        return next((c for c in self.checklists if c.name == name), None)


def json_schema() -> dict[str, Any]:
    schema = Playbook.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "warroom playbook"
    return schema


def content_hash(source: bytes) -> str:
    """Short, stable id of one version of a playbook file (recorded on the incident)."""
    return hashlib.sha256(source).hexdigest()[:12]


def specificity(
    playbook: Playbook, severity: Severity, service: str | None, labels: tuple[str, ...] = ()
) -> int | None:
    """How specifically a playbook matches an incident; None when it does not apply.

    A service match outweighs labels, which outweigh severities, so the database playbook
    wins over the major-incident one for a sev1 database outage."""
    rule = playbook.applies_to
    if rule.severities and severity not in rule.severities:
        return None
    if rule.services and service not in rule.services:
        return None
    if rule.labels and not set(rule.labels) <= set(labels):
        return None
    return 4 * bool(rule.services) + 2 * bool(rule.labels) + bool(rule.severities)


def select(
    playbooks: list[Playbook], severity: Severity, service: str | None, labels: tuple[str, ...] = ()
) -> Playbook | None:
    """The most specific matching playbook (ties: the first by name, so it is stable)."""
    scored = [
        (score, p.name, p)
        for p in playbooks
        if (score := specificity(p, severity, service, labels)) is not None
    ]
    if not scored:
        return None
    best = max(score for score, _, _ in scored)
    return min((t for t in scored if t[0] == best), key=lambda t: t[1])[2]


class Loaded(BaseModel):
    """A validated playbook with the identity of the file version it came from."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    playbook: Playbook
    content_hash: str
    source: str = ""


class Library:
    """The playbooks an installation runs, by name."""

    def __init__(self, loaded: list[Loaded] | None = None) -> None:
        self._by_name = {item.playbook.name: item for item in loaded or []}

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def labels(self) -> list[str]:
        """Every label some playbook applies to (`label:NAME` must be one of them)."""
        return sorted(
            {label for i in self._by_name.values() for label in i.playbook.applies_to.labels}
        )

    def get(self, name: str | None) -> Loaded | None:
        return self._by_name.get(name) if name else None

    def select(
        self, severity: Severity, service: str | None, labels: tuple[str, ...] = ()
    ) -> Loaded | None:
        chosen = select([i.playbook for i in self._by_name.values()], severity, service, labels)
        return self._by_name[chosen.name] if chosen else None
