"""What due reminders say, decided for a whole batch at once.

A batch of due reminders (bot/schedule/ticker.py) may span many incidents. Everything their
texts depend on (the incident, its current roles, its tasks, whether it had a status update)
is read once for all of them, one query per kind of fact, and each text is then decided by
`text_for`, a pure function. Kinds that run the playbook engine or the pager (status overdue,
escalation) are not said here: they change more than the timeline and go one at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bot.core import engine, views
from bot.core.model import Incident, Reminder, Task, TaskState
from bot.core.paging import ESCALATE
from bot.core.ports import Store

# Marks claimed reminders fired, fenced by their claim (the ticker's); returns those it marked.
Mark = Callable[[list[Reminder]], Awaitable[list[Reminder]]]

# Firing these runs the playbook engine or the pager; everything else only says something.
ONE_AT_A_TIME = frozenset({engine.STATUS, ESCALATE})


def said_in_bulk(reminder: Reminder) -> bool:
    return reminder.kind not in ONE_AT_A_TIME


def event_key(reminder: Reminder) -> str:
    """The idempotency key of a reminder's timeline event and of its post: one per reminder,
    so no path (a retry, a second replica) can record or post it twice."""
    return f"warroom:reminder:{reminder.id}"


@dataclass
class Facts:
    incidents: dict[int, Incident]
    roles: dict[int, dict[str, str]] = field(default_factory=dict)  # number -> role -> user
    tasks: dict[int, list[Task]] = field(default_factory=dict)
    updated: set[int] = field(default_factory=set)  # incidents that had a status update


async def read_facts(store: Store, reminders: Iterable[Reminder]) -> Facts:
    """What the reminders' texts need, for all their incidents, one query per kind of fact
    (and none for facts no reminder of the batch needs)."""
    reminders = list(reminders)
    numbers = {r.incident_number for r in reminders}
    facts = Facts(await store.incidents_by_number(numbers))
    numbers &= facts.incidents.keys()
    wanted = [r for r in reminders if r.incident_number in numbers]

    def of(test: object) -> set[int]:
        return {r.incident_number for r in wanted if test(r)}  # type: ignore[operator]

    need_roles = of(lambda r: (r.target or "").startswith("role:") or _until(r).get("roles"))
    if need_roles:
        by_incident = await store.roles_by_incident(need_roles)
        facts.roles = {n: views.current_roles(a) for n, a in by_incident.items()}
    need_tasks = of(lambda r: r.kind == engine.TASK_DUE)
    if need_tasks:
        facts.tasks = await store.tasks_by_incident(need_tasks)
    need_updates = of(lambda r: _until(r).get("status_update"))
    if need_updates:
        facts.updated = await store.with_status_updates(need_updates)
    return facts


def text_for(reminder: Reminder, facts: Facts, now: datetime) -> str | None:
    """What the reminder says; None when there is nothing to say (its incident is gone, the
    playbook's `until:` holds, its task was done or skipped in time)."""
    incident = facts.incidents.get(reminder.incident_number)
    if incident is None:
        return None
    roles = facts.roles.get(incident.number, {})
    if _needless(reminder, roles, incident.number in facts.updated):
        return None
    who = _who(roles, reminder.target)
    if reminder.kind != engine.TASK_DUE:
        return (f"@{who}: " if who else "") + reminder.text
    position = reminder.data.get("position")
    tasks = facts.tasks.get(incident.number, [])
    task = next((t for t in tasks if t.position == position), None)
    if task is None or task.state is not TaskState.OPEN:
        return None  # done or skipped in time: nothing to say
    who = task.assignee or who
    mention = f"@{who}: " if who else ""
    late = views.duration_since(task.due_at or reminder.due_at, now)
    return (
        f"{mention}task {task.position} is due: {task.title}"
        + (f" (late by {late})" if late != "0s" else "")
        + f". /incident task done {task.position} when it is."
    )


def _until(reminder: Reminder) -> dict[str, object]:
    until = reminder.data.get("until")
    return until if isinstance(until, dict) else {}


def _needless(reminder: Reminder, roles: dict[str, str], updated: bool) -> bool:
    """The playbook's `until:` holds: each of its conditions (roles all held, a status update
    posted) is met."""
    until = _until(reminder)
    if not until:
        return False
    wanted: list[str] = list(until.get("roles") or [])  # type: ignore[call-overload]
    if wanted and not all(role in roles for role in wanted):
        return False
    if until.get("status_update") and not updated:
        return False
    return bool(wanted or until.get("status_update"))


def _who(roles: dict[str, str], target: str | None) -> str | None:
    if not target:
        return None
    if target.startswith("role:"):
        # An unfilled role falls to the commander, who decides who does it.
        return roles.get(target[5:]) or roles.get("commander")
    return target
