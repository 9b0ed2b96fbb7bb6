"""Runs one `/incident ...` command: parse, call the service, say what happened.

This is the only place that turns failures into replies, so every platform answers bad input
the same way: one clear line, never a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.core import commands as c
from bot.core import messages, sanitize, views
from bot.core.access import Refused
from bot.core.declare import DeclarationIncomplete
from bot.core.model import Incident, State
from bot.core.ports import AlreadyHandled, Deliveries, Settle, StoreUnavailable
from bot.core.postmortem import render_postmortem
from bot.core.service import IncidentService, Invocation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """What the invoking user is told. `public` replies are shown to the whole channel;
    the rest only to the user (ephemeral). Empty text means the channel post says it all."""

    text: str
    public: bool = False
    open_form: bool = False  # the adapter should open its "declare" form instead
    refused: bool = False  # an Access refusal: nothing changed (a button stays as it was)


# (platform, verb, outcome, seconds) -> None; the composition root wires it to metrics.
CommandObserver = Callable[[str, str, str, float], None]


# How long a reply waits for the command's chat side effects, so that it can say whether they
# went out (and link the new channel); past it the outbox keeps going and the reply goes now.
SETTLE_SECONDS = 2.0


class Router:
    def __init__(
        self,
        service: IncidentService,
        observe: CommandObserver | None = None,
        deliveries: Deliveries | None = None,
    ) -> None:
        self.service = service
        self.observe = observe
        self.deliveries = deliveries  # the outbox, when chat side effects go through one
        self.settle_seconds = SETTLE_SECONDS

    async def handle(self, ctx: Invocation, text: str, *, inbox_key: str | None = None) -> Reply:
        try:
            command = c.parse(text)
        except c.UsageError as error:
            return Reply(str(error))
        return await self.execute(ctx, command, text, inbox_key=inbox_key)

    async def execute(
        self, ctx: Invocation, command: c.Command, text: str = "", *, inbox_key: str | None = None
    ) -> Reply:
        """Run a parsed command (forms and buttons arrive already parsed) as one transaction:
        what it records, the chat side effects it causes and its inbox row (`inbox_key`)
        commit together. A command handled before (a redelivery, a replay) answers nothing."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            if inbox_key is None and isinstance(command, c.READ_ONLY):
                # A read changes nothing and claims no key: no transaction, so the store can
                # serve it the cheapest way (inline on an SQLite file). The caller marks a
                # recorded read done (Inbox.finish), batched with other reads.
                return await self.run(ctx, command)
            async with self.service.store.transaction(inbox_key) as tx:
                reply = await self.run(ctx, command)
            return await self._settled(reply, list(tx.effects))
        except AlreadyHandled:
            outcome = "duplicate"
            return Reply("")
        except StoreUnavailable as error:
            outcome = "unavailable"
            log.warning("command refused: the database is unavailable (%s)", error)
            return Reply(messages.DATABASE_UNAVAILABLE)
        except Refused as error:
            outcome = "refused"
            await self._handled(inbox_key)
            return Reply(str(error), refused=True)
        except c.UsageError as error:
            outcome = "usage_error"
            await self._handled(inbox_key)
            return Reply(str(error))
        except DeclarationIncomplete as error:
            outcome = "error"
            log.exception("declaring succeeded but the channel set-up failed")
            return Reply(str(error))
        except Exception:
            outcome = "error"
            # Unexpected: log the traceback for the operator, tell the user what to do next.
            log.exception(
                "command failed: /incident %s (user %s on %s)",
                text or command,
                ctx.user,
                ctx.platform,
            )
            await self._handled(inbox_key)
            return Reply(messages.INTERNAL_ERROR)
        finally:
            if self.observe is not None:
                self.observe(ctx.platform, verb_of(command), outcome, time.perf_counter() - started)

    async def _settled(self, reply: Reply, effects: list[int]) -> Reply:
        """Wait briefly for the command's effects; tell the truth about them."""
        if not effects or self.deliveries is None:
            return reply
        settled = await self.deliveries.settle(effects, self.settle_seconds)
        text = await self.deliveries.resolve(reply.text)
        if settled == Settle.RETRYING:
            text = (
                f"{text}\n{messages.RECORDED_CHAT_RETRYING}"
                if text
                else messages.RECORDED_CHAT_RETRYING
            )
            return replace(reply, text=text, public=False)
        return replace(reply, text=text)

    async def _handled(self, inbox_key: str | None) -> None:
        """A command that failed was rolled back; its inbox row is still done (it was
        answered), so no replay runs it again."""
        if inbox_key is None:
            return
        try:
            async with self.service.store.transaction(inbox_key):
                pass
        except (AlreadyHandled, StoreUnavailable):
            pass

    async def run(self, ctx: Invocation, command: c.Command) -> Reply:
        s = self.service
        now = s.clock.now()
        # Hostile or careless input stops here: nothing below stores a control character or
        # an over-long text.
        command = sanitize.clean_command(command)
        match command:
            case c.Help():
                return Reply(messages.HELP)
            case c.OpenDeclareForm():
                return Reply("", open_form=True)
            case c.Declare():
                incident = await s.declare(ctx, command, command.description)
                chat = s.chats[incident.platform]
                link = chat.channel_link(s.channel_of(incident)) if incident.channel_id else ""
                return Reply(
                    f"{incident.ref} declared ({incident.severity}): {incident.title}. "
                    f"Join {link}.",
                    public=not incident.private,
                )
            case c.ListIncidents(include_resolved=all_):
                incidents = await s.store.list_incidents(include_resolved=all_)
                shown, hidden = await s.access.visible(ctx, incidents)
                text = views.incident_list(shown, now, all_, hidden_private=hidden)
                return Reply(text)
            case c.Show(number=number):
                incident = await s.get(number)
                await s.access.require_visible(ctx, incident)
                detail = views.incident_detail(await s.overview(incident), now)
                failed = await s.store.undelivered(number)
                return Reply(detail + messages.undelivered(failed) if failed else detail)
            case c.Acknowledge(number=number, paged=paged) if number is not None:
                incident = await s.get(number)
                await s.access.require_visible(ctx, incident)
                if paged is not None:
                    s.access.require_acknowledger(ctx, paged)
                return Reply(await s.acknowledge_page(incident, ctx.user))
            case c.ShowOnCall(target=target) if target is not None:
                return Reply(s.oncall_text(target))
            case (
                c.ListTasks(number=int() as number)
                | c.ShowTimeline(number=int() as number)
                | c.Postmortem(number=int() as number)
            ):
                # Reading another incident by its number: only if this user may see it.
                incident = await s.get(number)
                await s.access.require_visible(ctx, incident)
                return await self.in_incident(ctx, command, incident)
        # Everything below acts on the incident of the channel it was typed in.
        incident = await s.incident_here(ctx, verb_of(command))
        return await self.in_incident(ctx, command, incident)

    async def in_incident(self, ctx: Invocation, command: c.Command, incident: Incident) -> Reply:
        s = self.service
        now = s.clock.now()
        access = s.access
        match command:
            case c.PostStatus(text=text):
                await s.post_status(incident, ctx.user, text)
                return Reply("")
            case c.SetSeverity(severity=severity):
                await access.require(ctx, incident, "severity")
                await s.set_severity(incident, ctx.user, severity)
                return Reply("")
            case c.SetState(state=state):
                await access.require(ctx, incident, steering_of(incident, state))
                await s.set_state(incident, ctx.user, state)
                return Reply("")
            case c.Resolve(text=text):
                await access.require(ctx, incident, "resolve")
                await s.resolve(incident, ctx.user, text)
                return Reply("")
            case c.AssignRole(role=role, user=user):
                await access.require(ctx, incident, "roles")
                await s.assign_role(incident, ctx.user, role, user)
                return Reply("")
            case c.AddNote(text=text):
                await s.add_note(incident, ctx.user, text)
                return Reply(f"Note added to the {incident.ref} timeline.")
            case c.Acknowledge():
                await s.acknowledge_page(incident, ctx.user)
                return Reply("")
            case c.ShowOnCall():
                return Reply(s.oncall_text(incident.service or "", incident))
            case c.Page(target=target):
                if not target.startswith("@") and s.runner and s.runner.catalog:
                    await s.runner.page_target(incident, ctx.user, target)
                    return Reply("")
                if not target.startswith("@"):
                    return Reply(
                        "Paging a team or service needs a service catalog "
                        "(WARROOM_CATALOG). To page a person: /incident page @user."
                    )
                await s.page_user(incident, ctx.user, c.parse_user(target))
                return Reply("")
            case c.ListTasks():
                return Reply(views.task_lines(incident, await s.store.tasks(incident.number)))
            case c.AddTask(title=title):
                task = await s.add_task(incident, ctx.user, title)
                return Reply(f"Task {task.position} added: {task.title}", public=True)
            case c.ChangeTask(action=action, position_text=position):
                task = await s.change_task(incident, ctx.user, action, position)
                return Reply(
                    f"Task {task.position} is now {task.state}: {task.title} (@{ctx.user})",
                    public=True,
                )
            case c.ShowTimeline(last=last):
                events = await s.store.timeline(incident.number, last=last or 20)
                return Reply(views.timeline_lines(incident, events))
            case c.Postmortem():
                record = await s.record(incident.number)
                markdown = render_postmortem(record, now)
                await s.share_postmortem(incident, ctx.user, markdown)
                return Reply("")
            case c.AddFollowUp(text=text):
                number = await s.add_followup(incident, ctx.user, text)
                return Reply(
                    f"Follow-up {number} added to the {incident.ref} postmortem: {text}",
                    public=True,
                )
        raise AssertionError(f"unhandled command {command!r}")


def steering_of(incident: Incident, state: State) -> str:
    """Which permission a change of state needs: resolving and reopening are their own."""
    if state is State.RESOLVED:
        return "resolve"
    if incident.state is State.RESOLVED:
        return "reopen"
    return "state"


def verb_of(command: c.Command) -> str:
    names = {
        c.Declare: "declare",
        c.OpenDeclareForm: "declare",
        c.ListIncidents: "list",
        c.Show: "show",
        c.Help: "help",
        c.PostStatus: "status",
        c.SetSeverity: "sev",
        c.SetState: "state",
        c.Resolve: "resolve",
        c.AssignRole: "role",
        c.AddNote: "note",
        c.Page: "page",
        c.Acknowledge: "ack",
        c.ShowOnCall: "oncall",
        c.ListTasks: "tasks",
        c.AddTask: "task",
        c.ChangeTask: "task",
        c.ShowTimeline: "timeline",
        c.Postmortem: "postmortem",
        c.AddFollowUp: "followup",
    }
    return names.get(type(command), "unknown")
