"""The Bolt AsyncApp and its listeners: ack at once, then work.

Slack drops anything not acknowledged within 3 s, and with process_before_response=True Bolt
answers as soon as the listener returns, so every listener acks and hands the real work to
`Worker` (worker.py); only what is answered at once is answered in the ack: `help`, and a
read (`list`, `show` ...) whose channel has no work queued (answer_in_ack). Work for one
channel runs in arrival order (a status update after a severity change, an edit after the
message it edits); different channels run concurrently; answers through response_urls are sent
apart, so the next command need not wait for them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack import translate
from bot.chat.slack.chat import SlackChat
from bot.chat.slack.worker import ACK_BY, REQUEST_ARRIVED, Worker
from bot.core import commands as c
from bot.core import messages
from bot.core.alerts import messages as alert_messages
from bot.core.alerts.intake import AlertIntake
from bot.core.ingest import IncomingMessage
from bot.core.ports import Accepted, AlreadyHandled, Inbox, StoreUnavailable
from bot.core.router import Reply, Router
from bot.core.service import Invocation

log = logging.getLogger(__name__)

COMMAND = "/incident"
# Events listened to; manifest.py subscribes to exactly these (message in two channel kinds).
EVENTS = ("message", "reaction_added", "pin_added")
Authorize = Callable[..., Awaitable[AuthorizeResult]]


class SlackListeners:
    """What each Slack request does once acknowledged; the core does the rest.

    With an inbox, every request that changes something is recorded (keyed by Slack's id for
    it) before it is acknowledged, and its handling is one transaction that marks the inbox
    row done: acknowledged means on disk, and a redelivery or a replay never repeats it."""

    def __init__(
        self,
        router: Router,
        chat: SlackChat,
        worker: Worker | None = None,
        inbox: Inbox | None = None,
    ) -> None:
        self.router = router
        self.service = router.service
        self.store = router.service.store
        self.chat = chat
        self.worker = worker or Worker()
        self.inbox = inbox
        self.alerts: AlertIntake | None = None  # set when alert intake runs (offer buttons)
        # Bolt has authorized a command once (its single-workspace check is made once and
        # kept): later commands may skip its dispatch (SlackPlatform.handle).
        self.commands_authorized = False

    async def accept(
        self, key: str, kind: str, body: dict[str, Any], *, spool: bool, message: Any = None
    ) -> str:
        """Record an inbound item before its ack; an Accepted value. Without an inbox the
        transaction that handles it claims the key instead."""
        if self.inbox is None:
            return Accepted.NEW
        return await self.inbox.accept(
            key, translate.PLATFORM, kind, body, spool=spool, message=message
        )

    async def replay(self, item: Any) -> None:
        """Handle an item recorded earlier but never finished (a crash), or spooled during a
        database outage. Fenced by its inbox row: handled at most once."""
        body = item.payload
        if item.kind == "event":
            change = translate.timeline_change(body.get("event") or {})
            if change is not None:
                self.handle_change(item.key, change)
        elif item.kind == "command":
            text = translate.command_text(body.get("text", ""))
            try:
                command = c.parse(text)
            except c.UsageError:
                return
            key = f"channel:{body.get('channel_id')}"
            self.worker.submit(key, self.run_command(body, command, text, item.key))
        elif item.kind == "view":
            form = translate.declare_from_view(body["view"])
            self.worker.submit(f"channel:{form.channel_id}", self.run_declare_form(body, item.key))
        elif item.kind == "action":
            for action in body.get("actions") or []:
                self.handle_press(body, action, item.key)

    # -- slash command -----------------------------------------------------------------------

    async def on_command_via_bolt(
        self, ack: Callable[..., Awaitable[Any]], body: dict[str, Any]
    ) -> None:
        self.commands_authorized = True
        await self.on_command(ack, body)

    async def on_command(self, ack: Callable[..., Awaitable[Any]], body: dict[str, Any]) -> None:
        text = translate.command_text(body.get("text", ""))
        try:
            command = c.parse(text)
        except c.UsageError as error:
            # Decided without I/O: answer in the acknowledgement itself, only to the user.
            await ack(text=translate.outgoing(str(error)), response_type="ephemeral")
            return
        if isinstance(command, c.Help):
            reply = await self.router.execute(translate.invocation(body), command, text)
            await ack(text=reply.text, response_type="ephemeral")
            return
        if isinstance(command, c.OpenDeclareForm):
            await ack()
            # A trigger_id lives about 3 s: open the form now, never behind other work.
            self.worker.submit(None, self.open_form(body), urgent=True)
            return
        lane = f"channel:{body.get('channel_id')}"
        if isinstance(command, c.READ_ONLY) and not self.worker.busy(lane):
            await self.answer_in_ack(ack, body, command, text)
            return
        # Backpressure: in a burst that outruns the work, hold this ack (at most a second) so
        # that answers keep pace instead of queueing for as long as the burst lasts.
        await self.worker.wait_for_room()
        trigger = body.get("trigger_id") or ""
        key = f"slack:command:{trigger}" if trigger else None
        if key is not None:
            try:
                accepted = await self.accept(key, "command", body, spool=False)
            except StoreUnavailable:
                await ack(text=messages.DATABASE_UNAVAILABLE, response_type="ephemeral")
                return
            if accepted == Accepted.DUPLICATE:
                await ack()  # the same command delivered twice: one incident, one channel
                return
        await ack()
        read = isinstance(command, c.READ_ONLY)
        self.worker.submit(lane, self.run_command(body, command, text, key), read=read)

    async def run_command(
        self, body: dict[str, Any], command: c.Command, text: str, key: str | None = None
    ) -> None:
        ctx = translate.invocation(body)
        if key is not None and self.inbox is not None and isinstance(command, c.READ_ONLY):
            await self.run_read(body, ctx, command, text, key)
            return
        reply = await self.router.execute(ctx, command, text, inbox_key=key)
        if reply.open_form:
            await self.open_form(body)
            return
        await self.respond(body, reply)

    async def answer_in_ack(
        self,
        ack: Callable[..., Awaitable[Any]],
        body: dict[str, Any],
        command: c.Command,
        text: str,
    ) -> None:
        """A read (`list`, `show` ...) whose channel has no work queued is answered in its
        acknowledgement: no transaction, no inbox row, no response_url POST. It changes
        nothing, so there is nothing to record; and the answer is the acknowledgement itself,
        so an acknowledged read cannot lose its answer (a crash before the ack is a command
        Slack reports to its user as failed, never one acknowledged and unanswered). Behind
        queued work of its channel it must wait for that work (it would not see it): then it
        is recorded and answered later (run_read)."""
        deadline = ACK_BY
        arrived = REQUEST_ARRIVED.get()
        if arrived is not None:
            deadline = max(0.1, arrived + ACK_BY - asyncio.get_running_loop().time())
        try:
            async with asyncio.timeout(deadline):  # a hung database must not cost Slack's 3 s
                reply = await self.router.execute(translate.invocation(body), command, text)
        except TimeoutError:
            log.warning("slack: a read took longer than %.1f s; answered unavailable", deadline)
            reply = Reply(messages.DATABASE_UNAVAILABLE)
        if not reply.text:
            await ack()
            return
        response_type = "in_channel" if reply.public else "ephemeral"
        await ack(text=translate.outgoing(reply.text), response_type=response_type)

    async def run_read(
        self, body: dict[str, Any], ctx: Invocation, command: c.Command, text: str, key: str
    ) -> None:
        """A recorded read (`list`, `show` ...) that came behind queued work of its channel,
        or replayed. It writes nothing, so it runs outside any transaction. Its inbox row is
        not a fence (running a read twice is harmless) but the promise of an answer: a crash
        before the answer leaves it pending and a replay answers. It is marked done in the
        inbox's next group commit (one commit for a burst of them, not one each); a crash
        between the answer and that commit sends the answer twice, which beats none."""
        assert self.inbox is not None
        reply = await self.router.execute(ctx, command, text)
        try:
            if not await self.inbox.finish(key):
                return  # answered already (a replay raced a replica): say it once
        except StoreUnavailable as error:
            # The answer is ready; the row stays pending, so a replay may send it again:
            # a second copy of a list beats none.
            log.warning("slack: a read's inbox row could not be marked done: %s", error)
        await self.respond(body, reply)

    async def open_form(self, body: dict[str, Any]) -> None:
        try:
            await self.chat.call(
                "views.open",
                trigger_id=body["trigger_id"],
                view=translate.declare_modal(body.get("channel_id")),
            )
        except SlackApiError as error:
            # Most often expired_trigger_id: the 3 s passed. Say how to declare without it.
            log.warning("slack: views.open failed: %s", error.response.get("error"))
            await self.respond(body, Reply(messages.FORM_EXPIRED))

    # -- declare form ------------------------------------------------------------------------

    async def on_declare_submission(
        self, ack: Callable[..., Awaitable[Any]], body: dict[str, Any]
    ) -> None:
        view = body["view"]
        errors = translate.form_errors(view)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        # A double-clicked Declare sends the same view twice: one incident, one channel.
        key = f"slack:view:{view['id']}"
        try:
            accepted = await self.accept(key, "view", body, spool=False)
        except StoreUnavailable:
            await ack(response_action="errors", errors={"title": messages.DATABASE_UNAVAILABLE})
            return
        await ack()
        if accepted == Accepted.DUPLICATE:
            return
        form = translate.declare_from_view(view)
        self.worker.submit(f"channel:{form.channel_id}", self.run_declare_form(body, key))

    async def run_declare_form(self, body: dict[str, Any], key: str | None = None) -> None:
        view = body["view"]
        form = translate.declare_from_view(view)
        ctx = translate.interaction_invocation(body, form.channel_id)
        reply = await self.router.execute(
            ctx, form.command, inbox_key=key or f"slack:view:{view['id']}"
        )
        await self.tell(ctx, reply)

    async def tell(self, ctx: Invocation, reply: Reply) -> None:
        """Show a reply to the user who submitted a form (which has no response_url): only to
        them in the channel they started from, or in a direct message if the bot is not there."""
        if not reply.text:
            return
        text = translate.outgoing(reply.text)
        if ctx.channel_id:
            try:
                await self.chat.call(
                    "chat.postEphemeral", channel=ctx.channel_id, user=ctx.user, text=text
                )
                return
            except SlackApiError as error:
                log.info("slack: ephemeral reply failed (%s); sending a DM", error.response)
        await self.chat.call("chat.postMessage", channel=ctx.user, text=text)

    # -- checklist buttons -------------------------------------------------------------------

    async def on_task_action(
        self,
        ack: Callable[..., Awaitable[Any]],
        body: dict[str, Any],
        action: dict[str, Any],
    ) -> None:
        if translate.task_change(action) is None:
            await ack()
            return
        await self.on_press(ack, body, action)

    async def on_press(
        self,
        ack: Callable[..., Awaitable[Any]],
        body: dict[str, Any],
        action: dict[str, Any],
    ) -> None:
        """A button press of ours (checklist, alert offer, page acknowledgement): recorded
        before its ack under Slack's id for the press, so a retried delivery is handled once
        and an acknowledged press survives a crash (replay)."""
        key = f"slack:action:{body.get('trigger_id') or action.get('action_ts')}"
        try:
            accepted = await self.accept(key, "action", body, spool=False)
        except StoreUnavailable:
            await ack()
            await self.respond(body, Reply(messages.DATABASE_UNAVAILABLE), replace_original=False)
            return
        await ack()
        if accepted == Accepted.DUPLICATE:
            return
        self.handle_press(body, action, key)

    def handle_press(self, body: dict[str, Any], action: dict[str, Any], key: str) -> None:
        """Queue a recorded press's work (live, or replayed after a crash)."""
        channel, _ = translate.action_location(body)
        if (command := translate.task_change(action)) is not None:
            self.worker.submit(f"channel:{channel}", self.run_task_action(body, command, key))
        elif (offer := translate.alert_offer(action)) is not None and self.alerts is not None:
            self.worker.submit(f"channel:{channel}", self.run_alert_action(body, offer, key))
        elif (pressed := translate.page_ack_press(action)) is not None:
            self.worker.submit(f"page:{pressed[0]}", self.run_page_ack(body, *pressed, key))

    async def run_task_action(
        self, body: dict[str, Any], command: c.ChangeTask, key: str | None = None
    ) -> None:
        channel, ts = translate.action_location(body)
        ctx = translate.interaction_invocation(body, channel)
        reply = await self.router.execute(ctx, command, inbox_key=key)
        await self.refresh_checklist(channel, ts)
        await self.respond(body, reply, replace_original=False)

    async def refresh_checklist(self, channel: str | None, ts: str | None) -> None:
        """Redraw a clicked checklist message after its tasks changed. The incident's own
        checklist message is kept in step by the core (PlaybookRunner.show_checklist); an older
        copy that was clicked is redrawn here."""
        if not channel or not ts:
            return
        incident = await self.store.incident_by_channel(translate.PLATFORM, channel)
        if incident is not None and ts != incident.checklist_message_id:
            tasks = await self.store.tasks(incident.number)
            await self.chat.update_checklist(channel, ts, incident, tasks)

    # -- alert offers ------------------------------------------------------------------------

    async def on_alert_action(
        self,
        ack: Callable[..., Awaitable[Any]],
        body: dict[str, Any],
        action: dict[str, Any],
    ) -> None:
        if translate.alert_offer(action) is None or self.alerts is None:
            await ack()
            return
        await self.on_press(ack, body, action)

    async def run_alert_action(
        self, body: dict[str, Any], offer: int, key: str | None = None
    ) -> None:
        """Declare from an offer. The intake's own steps are not one transaction, so this is
        not fenced by one: a second run (a replay after a crash) finds the offer declared
        and says so. The inbox row is marked done once the press has been handled."""
        assert self.alerts is not None
        ctx = translate.interaction_invocation(body, translate.action_location(body)[0])
        try:
            incident = await self.alerts.declare_offer(offer, ctx.user)
        except c.UsageError as error:
            reply = Reply(str(error))
        else:
            reply = Reply(alert_messages.declared(incident.ref))
        await self.finished(key)
        await self.tell(ctx, reply)

    async def finished(self, key: str | None) -> None:
        """Mark a recorded item done whose handling had no transaction to do it in."""
        if key is None or self.inbox is None:
            return
        try:
            await self.inbox.finish(key)
        except StoreUnavailable as error:
            # Handled; the row stays pending and a replay finds the work already done.
            log.warning("slack: %s could not be marked done: %s", key, error)

    # -- a page's Acknowledge button ---------------------------------------------------------

    async def on_page_ack(
        self,
        ack: Callable[..., Awaitable[Any]],
        body: dict[str, Any],
        action: dict[str, Any],
    ) -> None:
        if translate.page_ack_press(action) is None:
            await ack()
            return
        await self.on_press(ack, body, action)

    async def run_page_ack(
        self, body: dict[str, Any], number: int, paged: str, key: str | None = None
    ) -> None:
        ctx = translate.interaction_invocation(body, None)
        # One transaction records the acknowledgement and marks the press done.
        reply = await self.router.execute(ctx, c.Acknowledge(number, paged), inbox_key=key)
        # The direct message becomes the answer, so its button cannot be pressed again; a
        # refused press (not the paged person) leaves it and tells only the presser.
        await self.respond(body, reply, replace_original=not reply.refused)

    # -- channel events ------------------------------------------------------------------------

    async def on_event(self, ack: Callable[..., Awaitable[Any]], body: dict[str, Any]) -> None:
        change = translate.timeline_change(body.get("event") or {})
        if change is None:
            await ack()
            return
        await self.take_change(body, change)
        await ack()

    async def on_posted(self, body: dict[str, Any]) -> bool:
        """A message posted in a channel, taken before Bolt sees it (SlackPlatform.handle):
        True when it was, False for anything else (Bolt's listeners take those).

        It is the request Slack sends most (every line people type in an incident channel),
        and Bolt's dispatch (its middleware chain, building every matcher's arguments) costs
        more per event than recording it does. What that chain does for such an event is done
        here: the signature was checked by the platform, bots' posts (ours included) are
        ignored by `translate` as Bolt's self-event filter would, and recording a message
        needs no token, so authorization has nothing to add."""
        event = body.get("event")
        if body.get("type") != "event_callback" or not isinstance(event, dict):
            return False
        if event.get("type") != "message":
            return False
        change = translate.timeline_change(event)
        if not isinstance(change, translate.Posted):
            return False  # edits, deletions, joins: rare, and Bolt's usual path is fine
        await self.take_change(body, change)
        return True

    async def take_change(self, body: dict[str, Any], change: translate.TimelineChange) -> None:
        """Record an event before its ack, then hand its change to the worker."""
        event_id = body.get("event_id")
        key = f"slack:event:{event_id}" if event_id else None
        # Slack redelivers an event it thinks was not acknowledged (X-Slack-Retry-Num): the
        # inbox knows its event_id. While the database is away, events go to the journal.
        # A message posted is handled by appending it to the timeline: the inbox's group commit
        # that records the event appends it too (DONE), one transaction for both.
        accepted = Accepted.NEW
        if key is not None:
            message = self.incoming(change) if isinstance(change, translate.Posted) else None
            accepted = await self.accept(key, "event", body, spool=True, message=message)
        if accepted != Accepted.NEW:
            return  # DONE, DUPLICATE, or SPOOLED (handled when the journal is replayed)
        self.handle_change(key, change)

    def handle_change(self, key: str | None, change: translate.TimelineChange) -> None:
        if isinstance(change, translate.Posted):
            # Not chained behind the channel's other work and not awaited: messages that
            # arrive together are written together (one transaction per batch, which also
            # marks their inbox rows done).
            self.worker.submit(None, self.run_event(key, change), urgent=True)
            return
        channel = translate.channel_of(change)
        self.worker.submit(f"channel:{channel}", self.run_event(key, change))

    @staticmethod
    def incoming(change: translate.Posted) -> IncomingMessage:
        """The timeline message of a post, as the inbox records it with its event."""
        return IncomingMessage(
            translate.PLATFORM,
            change.channel,
            change.user,
            change.text,
            translate.ts_to_datetime(change.ts),
            translate.source_key(change.channel, change.ts),
        )

    async def run_event(self, key: str | None, change: translate.TimelineChange) -> None:
        service = self.service
        if isinstance(change, translate.Posted):
            # Batched with other messages; the batch's transaction marks the inbox rows done.
            await service.record_message(
                translate.PLATFORM,
                change.channel,
                change.user,
                change.text,
                occurred_at=translate.ts_to_datetime(change.ts),
                source_key=translate.source_key(change.channel, change.ts),
                inbox_key=key,
            )
            return
        # An edit, deletion or pin finds the message it changes: written first.
        await service.ingest.flush()
        try:
            async with self.store.transaction(key):
                match change:
                    case translate.Edited(key=source, text=text):
                        await service.edit_message(source, text)
                    case translate.Deleted(key=source):
                        await service.delete_message(source)
                    case translate.Highlighted(key=source, by=by):
                        await service.highlight(source, by)
        except AlreadyHandled:
            return

    async def respond(self, body: dict[str, Any], reply: Reply, **extra: Any) -> None:
        """Answer a command or click through its response_url: in the channel when public,
        otherwise only to the user."""
        if not reply.text:
            return
        text = translate.outgoing(reply.text)
        url = body.get("response_url")
        if not url:  # not every payload has one (e.g. some app surfaces)
            ctx = translate.interaction_invocation(body, translate.action_location(body)[0])
            if reply.public and ctx.channel_id:
                await self.chat.post(ctx.channel_id, reply.text)
            else:
                await self.tell(ctx, reply)
            return
        response_type = "in_channel" if reply.public else "ephemeral"
        # Sent apart from the channel's work: the next command need not wait for the POST.
        payload = {"text": text, "response_type": response_type, **extra}
        self.worker.submit(None, self.chat.respond(url, payload))


class _DropClientOverTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment itself and then warns that the client we
    pass (built from that same token, with our base URL and retry policy) wins. True but
    alarming at every start, so that one message is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_CLIENT_OVER_TOKEN = _DropClientOverTokenWarning()


def build_bolt_app(
    listeners: SlackListeners,
    *,
    client: AsyncWebClient,
    signing_secret: str | None,
    authorize: Authorize | None = None,
) -> AsyncApp:
    """The Bolt app. Without `authorize`, Bolt checks the client's token once (auth.test)."""
    options: dict[str, Any] = {
        "client": client,
        "process_before_response": True,
        "signing_secret": signing_secret or "",
        # Socket Mode requests are not signed; HTTP requests always are.
        "request_verification_enabled": bool(signing_secret),
    }
    if authorize is not None:
        options["authorize"] = authorize
    # addFilter ignores a filter it already has, so building several apps adds it once.
    logging.getLogger("slack_bolt.AsyncApp").addFilter(_CLIENT_OVER_TOKEN)
    app = AsyncApp(**options)
    # Bolt tries listeners in the order they were added, building the arguments of each
    # matcher it tries: the frequent requests come first and the events share one listener,
    # so a command or a message event costs as few matchers as in a bare app.
    app.command(COMMAND)(listeners.on_command_via_bolt)
    app.event(re.compile(f"^(?:{'|'.join(map(re.escape, EVENTS))})$"))(listeners.on_event)
    app.action(translate.TASK_ACTION)(listeners.on_task_action)
    app.action(translate.ALERT_ACTION)(listeners.on_alert_action)
    app.action(translate.PAGE_ACK_ACTION)(listeners.on_page_ack)
    app.view_submission(translate.DECLARE_CALLBACK)(listeners.on_declare_submission)
    return app
