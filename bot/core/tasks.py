"""Tasks on an incident's checklist, and follow-ups (action items for after the incident).

Tasks from playbook checklists are added by the runner (bot/core/runner.py), which also keeps the
checklist message in step; here are the tasks people add and tick off themselves.
"""

from __future__ import annotations

from bot.core import engine, messages
from bot.core.commands import UsageError
from bot.core.desk import IncidentDesk
from bot.core.model import EventKind, Incident, Task, TaskState


class TaskList:
    def __init__(self, desk: IncidentDesk) -> None:
        self.desk = desk

    async def add_task(self, incident: Incident, user: str, title: str) -> Task:
        d = self.desk
        tasks = await d.store.tasks(incident.number)
        task = Task(incident.number, "added", len(tasks) + 1, title)
        await d.record_event(
            incident.number,
            EventKind.TASK_CHANGED,
            user,
            f"Task {task.position} added: {title}",
            tasks=[task],
            position=task.position,
            state="added",
        )
        if d.runner is not None:
            await d.runner.show_checklist(incident)
        return task

    async def change_task(
        self, incident: Incident, user: str, action: str, position_text: str
    ) -> Task:
        d = self.desk
        tasks = await d.store.tasks(incident.number)
        if not position_text.isdigit() or not 1 <= int(position_text) <= len(tasks):
            raise UsageError(messages.bad_task_number(position_text, len(tasks)))
        task = tasks[int(position_text) - 1]
        target = {"done": TaskState.DONE, "skip": TaskState.SKIPPED, "undo": TaskState.OPEN}[action]
        if task.state is target:
            raise UsageError(f"Nothing to change: task {task.position} is already {target}.")
        before = task.state
        task.state = target
        await d.record_response(
            incident,
            EventKind.TASK_CHANGED,
            user,
            f"Task {task.position} {target}: {task.title}",
            tasks=[task],
            position=task.position,
            state=target.value,
            previous=before.value,
        )
        if d.runner is not None:
            await d.runner.show_checklist(incident)
            if target is TaskState.DONE:
                await d.playbook_event(incident, engine.TaskDone(task.position, task.title))
        return task

    async def add_followup(self, incident: Incident, user: str, text: str) -> int:
        """Record a follow-up action item; return its number among the incident's follow-ups."""
        d = self.desk
        await d.record_event(incident.number, EventKind.FOLLOWUP, user, text, participants=[user])
        events = await d.store.timeline(incident.number)
        return sum(e.kind is EventKind.FOLLOWUP and e.deleted_at is None for e in events)
