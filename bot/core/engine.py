"""The playbook engine: (run state, event, now) -> (new state, [Action]).

Pure: no I/O, no clock, no event loop. PlaybookRunner (bot/core/runner.py) builds the state
from the store, feeds events in and performs the actions, so everything a playbook decides is
tested here with plain values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.model import Severity, State
from bot.core.playbook import Action, Condition, Playbook, TaskSpec, format_duration_spec
from bot.core.playbook_check import render

STATUS = "status_update"
TASK_DUE = "task_due"
RETROSPECTIVE = "retrospective"
REMIND = "remind"
# Reminders that belong to the response and end with it.
RESPONSE_KINDS = (STATUS, TASK_DUE, REMIND)


@dataclass(frozen=True)
class RunState:
    playbook: Playbook
    ref: str
    title: str
    severity: Severity
    state: State
    declared_at: datetime
    declared_by: str
    last_status_at: datetime
    service: str | None = None
    channel: str | None = None
    commander: str | None = None
    checklists: tuple[str, ...] = ()  # checklists already added to the incident


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    pass


@dataclass(frozen=True)
class SeverityChanged:
    to: Severity


@dataclass(frozen=True)
class StateChanged:
    to: State


@dataclass(frozen=True)
class StatusPosted:
    pass


@dataclass(frozen=True)
class StatusOverdue:
    """The status-update reminder fell due without an update."""


@dataclass(frozen=True)
class TaskDone:
    position: int
    title: str


Event = Declared | SeverityChanged | StateChanged | StatusPosted | StatusOverdue | TaskDone


def event_data(event: Event) -> dict[str, object]:
    """An event as plain JSON values: a reaction the outbox runs after its cause committed."""
    return {"event": type(event).__name__, **dataclasses.asdict(event)}


def event_from_data(data: dict[str, object]) -> Event:
    """The event `event_data` wrote; ValueError for anything else."""
    fields = {k: v for k, v in data.items() if k != "event"}
    match data.get("event"):
        case "SeverityChanged":
            return SeverityChanged(Severity(str(fields["to"])))
        case "StateChanged":
            return StateChanged(State(str(fields["to"])))
        case "StatusPosted":
            return StatusPosted()
        case "StatusOverdue":
            return StatusOverdue()
        case "TaskDone":
            return TaskDone(int(str(fields["position"])), str(fields["title"]))
        case "Declared":
            return Declared()
    raise ValueError(f"not a playbook event: {data!r}")


# -- actions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    text: str


@dataclass(frozen=True)
class Invite:
    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    target: str


@dataclass(frozen=True)
class AddChecklist:
    name: str
    tasks: tuple[TaskSpec, ...]


@dataclass(frozen=True)
class ScheduleReminder:
    kind: str
    due_at: datetime
    text: str
    target: str | None = None  # "role:NAME" or a user
    key: str | None = None
    until: dict[str, object] | None = None  # Until, as data the reminder row keeps


@dataclass(frozen=True)
class CancelReminders:
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class AssignRole:
    role: str
    user: str


Effect = Post | Invite | Page | AddChecklist | ScheduleReminder | CancelReminders | AssignRole


# -- the engine --------------------------------------------------------------------------------


def variables(s: RunState) -> dict[str, str]:
    cadence = cadence_for(s.playbook, s.severity)
    return {
        "incident": s.ref,
        "title": s.title,
        "severity": s.severity.value,
        "severity_label": s.severity.label,
        "state": s.state.value,
        "service": s.service or "",
        "channel": f"#{s.channel}" if s.channel else "",
        "commander": s.commander or "nobody",
        "declared_by": s.declared_by,
        "playbook": s.playbook.name,
        "cadence": format_duration_spec(cadence) if cadence else "no fixed cadence",
    }


def cadence_for(playbook: Playbook, severity: Severity) -> timedelta | None:
    updates = playbook.status_updates
    return updates.every.get(severity) if updates else None


def step(s: RunState, event: Event, now: datetime) -> tuple[RunState, list[Effect]]:
    out: list[Effect] = []
    match event:
        case Declared():
            pb = s.playbook
            if pb.announcement:
                out.append(Post(render(pb.announcement, variables(s))))
            if pb.invite.users or pb.invite.teams:
                out.append(Invite(tuple(pb.invite.users), tuple(pb.invite.teams)))
            s = _add_checklists(s, "declared", out)
            out += _status_reminder(s, s.declared_at)
            s, more = _fire(s, "declared", now)
            out += more
        case SeverityChanged(to=severity):
            s = dataclasses.replace(s, severity=severity)
            if s.state is not State.RESOLVED:
                out.append(CancelReminders((STATUS,)))
                # Due on the new cadence counted from the last update, but never in the past.
                out += _status_reminder(s, s.last_status_at, not_before=now)
            s, more = _fire(s, "severity_changed", now)
            out += more
        case StateChanged(to=state):
            before = s.state
            s = dataclasses.replace(s, state=state)
            s, more = _fire(s, "state_changed", now)
            out += more
            if state is State.RESOLVED:
                out.append(CancelReminders(RESPONSE_KINDS))
                s = _add_checklists(s, "resolved", out)
                retro = s.playbook.retrospective
                if retro is not None:
                    out.append(
                        ScheduleReminder(
                            RETROSPECTIVE,
                            now + retro.after,
                            render(retro.message, variables(s)),
                            "role:commander",
                            key=f"{s.ref}:retro:{now.isoformat()}",
                        )
                    )
                s, more = _fire(s, "resolved", now)
                out += more
            elif before is State.RESOLVED:  # reopened: the response runs again
                out.append(CancelReminders((RETROSPECTIVE,)))
                out += _status_reminder(s, now)
        case StatusPosted():
            s = dataclasses.replace(s, last_status_at=now)
            if s.state is not State.RESOLVED:
                out.append(CancelReminders((STATUS,)))
                out += _status_reminder(s, now)
        case StatusOverdue():
            if s.state is not State.RESOLVED and s.playbook.status_updates is not None:
                out.append(Post(render(s.playbook.status_updates.message, variables(s))))
                s, more = _fire(s, "status_overdue", now)
                out += more
                out += _status_reminder(s, now)  # and again after another period
        case TaskDone():
            s, more = _fire(s, "task_done", now)
            out += more
    return s, out


def _status_reminder(
    s: RunState, since: datetime, not_before: datetime | None = None
) -> list[Effect]:
    cadence = cadence_for(s.playbook, s.severity)
    if cadence is None:
        return []
    due = since + cadence
    if not_before is not None and due < not_before:
        due = not_before
    return [ScheduleReminder(STATUS, due, "", None, key=f"{s.ref}:status:{due.isoformat()}")]


def _add_checklists(s: RunState, start: str, out: list[Effect]) -> RunState:
    for checklist in s.playbook.checklists:
        if checklist.start == start and checklist.name not in s.checklists:
            out.append(AddChecklist(checklist.name, tuple(checklist.tasks)))
            s = dataclasses.replace(s, checklists=(*s.checklists, checklist.name))
    return s


def matches(condition: Condition | None, s: RunState) -> bool:
    if condition is None:
        return True
    return (
        (not condition.severities or s.severity in condition.severities)
        and (not condition.states or s.state in condition.states)
        and (not condition.services or s.service in condition.services)
    )


def _fire(s: RunState, on: str, now: datetime) -> tuple[RunState, list[Effect]]:
    out: list[Effect] = []
    for t, trigger in enumerate(s.playbook.triggers):
        if trigger.on != on or not matches(trigger.when, s):
            continue
        for a, action in enumerate(trigger.do):
            s, effect = _effect(s, action, now, f"{s.ref}:{on}:{t}:{a}:{now.isoformat()}")
            if effect is not None:
                out.append(effect)
    return s, out


def _effect(s: RunState, action: Action, now: datetime, key: str) -> tuple[RunState, Effect | None]:
    if action.post is not None:
        return s, Post(render(action.post, variables(s)))
    if action.invite is not None:
        return s, Invite(tuple(action.invite.users), tuple(action.invite.teams))
    if action.page is not None:
        return s, Page(action.page)
    if action.add_checklist is not None:
        checklist = s.playbook.checklist(action.add_checklist)
        if checklist is None or checklist.name in s.checklists:
            return s, None
        s = dataclasses.replace(s, checklists=(*s.checklists, checklist.name))
        return s, AddChecklist(checklist.name, tuple(checklist.tasks))
    if action.remind is not None:
        r = action.remind
        target = f"role:{r.role}" if r.role else None
        until = r.until.model_dump() if r.until else None
        text = render(r.text, variables(s))
        return s, ScheduleReminder(REMIND, now + r.after, text, target, key, until)
    if action.assign_role is not None:
        return s, AssignRole(action.assign_role.role, action.assign_role.user.lstrip("@"))
    return s, None
