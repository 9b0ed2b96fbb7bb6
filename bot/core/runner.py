"""PlaybookRunner: feeds incident events to the pure engine and performs what it decides.

The run state is rebuilt from the store on every event (incident row, roles, tasks, last status
update), so there is nothing extra to persist and a restart resumes where the store says.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from bot.core import engine, messages, reminding
from bot.core.catalog import Catalog
from bot.core.commands import Declare, UsageError
from bot.core.declare import DEFAULT_SEVERITY
from bot.core.desk import Known
from bot.core.engine import Effect, Event, RunState
from bot.core.model import Change, EventKind, Incident, Reminder, Task
from bot.core.paging import Pager
from bot.core.playbook import Library, Loaded, TaskSpec
from bot.core.ports import ExternalPager, Posting, Reminders

if TYPE_CHECKING:
    from bot.core.service import IncidentService

log = logging.getLogger(__name__)


class PlaybookRunner:
    def __init__(
        self,
        service: IncidentService,
        library: Library,
        reminders: Reminders,
        catalog: Catalog | None = None,
        external: ExternalPager | None = None,
    ) -> None:
        self.service = service
        self.library = library
        self.reminders = reminders
        self.catalog = catalog
        self.pager = Pager(service, reminders, catalog, external)

    # -- choosing --------------------------------------------------------------------------

    def choose(self, cmd: Declare) -> Loaded | None:
        """The playbook named in the command, else the most specific that applies."""
        if cmd.playbook:
            chosen = self.library.get(cmd.playbook)
            if chosen is None:
                raise UsageError(messages.unknown_playbook(cmd.playbook, self.library.names()))
            return chosen
        known = self.library.labels()
        for label in cmd.labels:
            if label not in known:
                raise UsageError(messages.unknown_label(label, known))
        severity = cmd.severity or DEFAULT_SEVERITY
        return self.library.select(severity, cmd.service, cmd.labels)

    def loaded_for(self, incident: Incident) -> Loaded | None:
        return self.library.get(incident.playbook)

    def roles_for(self, incident: Incident) -> tuple[str, ...] | None:
        loaded = self.loaded_for(incident)
        return loaded.playbook.role_names() if loaded else None

    def permissions_for(self, incident: Incident, action: str) -> tuple[str, ...]:
        loaded = self.loaded_for(incident)
        return loaded.playbook.permissions.roles_for(action) if loaded else ()

    def allowed_holders(self, incident: Incident, role: str) -> tuple[str, ...] | None:
        """Who may hold a role in this incident; None when anyone may."""
        loaded = self.loaded_for(incident)
        spec = loaded.playbook.role(role) if loaded else None
        return tuple(spec.who) if spec is not None and spec.who else None

    # -- events ----------------------------------------------------------------------------

    async def state_of(self, incident: Incident, known: Known | None = None) -> RunState | None:
        found = await self._state(incident, known)
        return found[0] if found is not None else None

    async def _state(
        self, incident: Incident, known: Known | None
    ) -> tuple[RunState, list[Task]] | None:
        """The run state, and the incident's tasks it was drawn from: read from the store,
        or taken from what the caller knows (a declaration: no reads at all)."""
        loaded = self.loaded_for(incident)
        if loaded is None:
            return None
        if known is None:
            store = self.service.store
            updates = await store.status_updates(incident.number)
            tasks = await store.tasks(incident.number)
            last_status_at = updates[-1].posted_at if updates else incident.declared_at
            commander = await self.service.commander(incident)
        else:
            tasks = list(known.tasks)
            last_status_at = known.last_status_at or incident.declared_at
            commander = known.commander
        state = RunState(
            playbook=loaded.playbook,
            ref=incident.ref,
            title=incident.title,
            severity=incident.severity,
            state=incident.state,
            declared_at=incident.declared_at,
            declared_by=incident.declared_by,
            last_status_at=last_status_at,
            service=incident.service,
            channel=incident.channel_name,
            commander=commander,
            checklists=tuple(dict.fromkeys(t.checklist for t in tasks)),
        )
        return state, tasks

    async def react(self, number: int, data: dict[str, object]) -> None:
        """A reaction the outbox deferred until its cause committed (IncidentDesk.
        playbook_event): to the incident as the store has it now."""
        incident = await self.service.store.get_incident(number)
        if incident is None:
            raise LookupError(f"INC-{number} no longer exists")
        await self.on_event(incident, engine.event_from_data(data))

    async def on_event(self, incident: Incident, event: Event, known: Known | None = None) -> None:
        if isinstance(event, engine.Declared):
            await self.pager.bring_in_owner(incident)
        elif isinstance(event, engine.StateChanged) and not incident.is_open:
            await self.pager.on_resolved(incident)
        found = await self._state(incident, known)
        if found is None:
            return
        state, tasks = found
        _, effects = engine.step(state, event, self.service.clock.now())
        hold = known is not None and known.hold_incident
        await self.perform(incident, effects, tasks=tasks, hold_incident=hold)

    async def perform(
        self,
        incident: Incident,
        effects: Iterable[Effect],
        *,
        tasks: list[Task] | None = None,
        hold_incident: bool = False,
    ) -> None:
        """Do what the engine decided. `tasks`: the incident's tasks as they are, if the caller
        has them (a checklist is numbered after them, and shown with them, without reading
        them again). Reminders are stored together, in one statement, after the effects
        that cannot change them (posts, checklists) and before any other. With
        `hold_incident` a change to the incident row (the checklist message) is left for
        the caller to write (see Known)."""
        s = self.service
        effects = list(effects)
        due: list[Reminder] = []
        # Without a catalog, one warning names every team the playbook asks for (invite and
        # page alike), where the first of them comes.
        missing = [] if self.catalog else list(dict.fromkeys(t for e in effects for t in _teams(e)))
        for effect in effects:
            if due and not isinstance(effect, _KEEP_REMINDERS):
                await self._schedule(due)  # a page or a cancel may look at them
                due = []
            if missing and _teams(effect):
                await s.post(incident, messages.no_catalog_for(missing))
                missing = []
            match effect:
                case engine.Post(text=text):
                    await s.post(incident, text)
                case engine.Invite(users=users, teams=teams):
                    for user in users:
                        await s.page_user(incident, "warroom", user, say_if_here=False)
                    for team in teams if self.catalog else ():
                        await self.pager.page_quietly(incident, team)
                case engine.Page(target=target):
                    if target.startswith("@"):
                        await s.page_user(incident, "warroom", target[1:], say_if_here=False)
                    elif self.catalog:
                        await self.pager.page_quietly(incident, target)
                case engine.AddChecklist(name=name, tasks=specs):
                    tasks = await self.add_checklist(
                        incident, name, specs, tasks=tasks, due=due, hold_incident=hold_incident
                    )
                case engine.ScheduleReminder() as r:
                    data = {"until": r.until} if r.until else {}
                    due.append(
                        Reminder(
                            incident.number, r.kind, r.due_at, r.text, r.target, data, key=r.key
                        )
                    )
                case engine.CancelReminders(kinds=kinds):
                    await self.reminders.cancel(incident.number, kinds)
                case engine.AssignRole(role=role, user=user):
                    try:
                        await s.assign_role(incident, "warroom", role, user)
                    except UsageError as error:
                        await s.post(incident, str(error))
        await self._schedule(due)

    async def _schedule(self, reminders: Sequence[Reminder]) -> None:
        if len(reminders) == 1:
            await self.reminders.schedule(reminders[0])
        elif reminders:
            await self.reminders.schedule_many(reminders)

    async def page_target(self, incident: Incident, by: str, target: str) -> None:
        """`/incident page TEAM|SERVICE` (see bot/core/paging.py)."""
        await self.pager.page_target(incident, by, target)

    async def add_checklist(
        self,
        incident: Incident,
        name: str,
        specs: Iterable[TaskSpec],
        *,
        tasks: list[Task] | None = None,
        due: list[Reminder] | None = None,
        hold_incident: bool = False,
    ) -> list[Task]:
        """Add a checklist's tasks after the incident's `tasks` (read when not given) and show
        it; the incident's tasks now. The tasks' reminders go into `due` for the caller to
        store, or are stored here without it."""
        s = self.service
        now = s.clock.now()
        specs = list(specs)
        existing = tasks if tasks is not None else await s.store.tasks(incident.number)
        tasks = [
            Task(
                incident.number,
                name,
                position,
                spec.title,
                due_at=now + spec.due_after if spec.due_after else None,
                assignee_role=spec.assignee,
            )
            for position, spec in enumerate(specs, start=len(existing) + 1)
        ]
        await s.record_event(
            incident.number,
            EventKind.TASK_CHANGED,
            "warroom",
            f"Checklist {name} added ({len(tasks)} tasks)",
            at=now,
            tasks=tasks,
            checklist=name,
        )
        if incident.checklist_message_id:
            # The checklist message is edited in place; say so, or nobody notices new tasks.
            await s.post(incident, messages.checklist_added(name, len(tasks)))
        reminders = []
        for task, spec in zip(tasks, specs, strict=True):
            if task.due_at is not None:
                reminders.append(
                    Reminder(
                        incident.number,
                        engine.TASK_DUE,
                        task.due_at,
                        task.title,
                        f"role:{task.assignee_role}" if task.assignee_role else None,
                        data={"position": task.position, **_until(spec)},
                        key=f"{incident.ref}:task:{task.position}",
                    )
                )
        if due is None:
            await self._schedule(reminders)
        else:
            due.extend(reminders)
        # As the store now has them: the commit gave the new tasks their ids.
        now_tasks = [*existing, *tasks]
        await self.show_checklist(
            incident, post_new=True, tasks=now_tasks, hold_incident=hold_incident
        )
        return now_tasks

    async def show_checklist(
        self,
        incident: Incident,
        *,
        post_new: bool = False,
        tasks: list[Task] | None = None,
        hold_incident: bool = False,
    ) -> None:
        """Keep the checklist message in step with the tasks (posted once, then edited):
        `tasks` as the store has them, read when not given. With `hold_incident` a new
        checklist message id is set on `incident` only, for the caller to write."""
        if not incident.channel_id:
            return
        chat = self.service.chats[incident.platform]
        if tasks is None:
            tasks = await self.service.store.tasks(incident.number)
        if incident.checklist_message_id:
            moved = await chat.update_checklist(
                incident.channel_id, incident.checklist_message_id, incident, tasks
            )
            if moved and moved != incident.checklist_message_id:
                incident.checklist_message_id = moved  # posted again: edit the new one next
                if not hold_incident:
                    await self.service.store.commit(Change(incident=incident))
        elif post_new and tasks:
            incident.checklist_message_id = await chat.post_checklist(
                incident.channel_id, incident, tasks
            )
            if not hold_incident:
                await self.service.store.commit(Change(incident=incident))

    # -- reminders -------------------------------------------------------------------------

    async def fire(self, reminder: Reminder) -> None:
        """Say what a due reminder says (the ticker calls this for each claimed reminder)."""
        if reminding.said_in_bulk(reminder):
            await self._say([reminder])
            return
        s = self.service
        incident = await s.store.get_incident(reminder.incident_number)
        if incident is None or not self._served(incident, reminder):
            return
        if reminder.kind == engine.STATUS:
            await self.on_event(incident, engine.StatusOverdue())
            text = "status update overdue"
        else:
            escalated = await self.pager.escalate(incident, reminder)
            if escalated is None:
                return
            text = escalated
        await s.record_event(
            incident.number, EventKind.REMINDER, "warroom", text, reminder=reminder.kind
        )

    async def fire_batch(self, reminders: Sequence[Reminder], mark: reminding.Mark) -> int:
        """Fire a claimed batch inside the caller's transaction; how many fired. `mark` marks
        reminders fired (fenced by the claim) and returns those it marked. Runs of reminders
        that only say something are marked, read and written together (one statement each);
        a status-overdue or escalation reminder runs on its own, in due order, so whatever it
        cancels is not fired after it."""
        fired = 0
        run: list[Reminder] = []
        for reminder in reminders:
            if reminding.said_in_bulk(reminder):
                run.append(reminder)
                continue
            if run:
                fired += await self._say(await mark(run))
                run = []
            if await mark([reminder]):
                await self.fire(reminder)
                fired += 1
        if run:
            fired += await self._say(await mark(run))
        return fired

    async def _say(self, reminders: Sequence[Reminder]) -> int:
        """Post what each reminder says and record it on its incident's timeline: one read per
        kind of fact, one bulk post per platform, one commit of all the events. Each event and
        post carries the reminder's own key."""
        if not reminders:
            return 0
        s = self.service
        now = s.clock.now()
        facts = await reminding.read_facts(s.store, reminders)
        postings: dict[str, list[Posting]] = {}
        events = []
        for reminder in reminders:
            incident = facts.incidents.get(reminder.incident_number)
            if incident is None or not self._served(incident, reminder):
                continue
            text = reminding.text_for(reminder, facts, now)
            if text is None:
                continue
            key = reminding.event_key(reminder)
            if incident.channel_id:
                postings.setdefault(incident.platform, []).append(
                    Posting(incident.channel_id, text, key)
                )
            event = s.timeline_event(
                incident.number, EventKind.REMINDER, "warroom", text, now, reminder=reminder.kind
            )
            event.source_key = key
            events.append(event)
        for platform, posts in postings.items():
            # Channel by channel (a stable sort keeps each channel's due order): the outbox
            # delivers a channel's rows in order, so adjacent rows of one channel go out and
            # are finished together rather than one claim and one commit per channel each.
            await s.post_many(platform, sorted(posts, key=lambda p: p.channel_id))
        if events:
            await s.store.commit(Change(events=events))
        return len(reminders)

    def _served(self, incident: Incident, reminder: Reminder) -> bool:
        if incident.platform in self.service.chats:
            return True
        # Its platform is not served by this process (e.g. a console incident while
        # `warroom run` serves Slack): nowhere to say it, so let it go.
        log.warning(
            "%s reminder for %s dropped: %s is not running here",
            reminder.kind,
            incident.ref,
            incident.platform,
        )
        return False


# Effects that neither read nor cancel reminders: reminders still to be stored wait past them.
_KEEP_REMINDERS = (engine.Post, engine.AddChecklist, engine.ScheduleReminder)


def _until(spec: TaskSpec) -> dict[str, object]:
    return {"until": spec.until.model_dump()} if spec.until else {}


def _teams(effect: Effect) -> tuple[str, ...]:
    if isinstance(effect, engine.Invite):
        return effect.teams
    if isinstance(effect, engine.Page) and not effect.target.startswith("@"):
        return (effect.target,)
    return ()
