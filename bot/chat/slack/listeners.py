"""The Bolt AsyncApp and its listeners: ack at once, then work.

Slack drops anything not acknowledged within 3 s, and with process_before_response=True Bolt
answers as soon as the listener returns, so every listener acks and hands the real work to
`Worker` (worker.py). Work for one channel runs in arrival order (a status update after a
severity change, an edit after the message it edits); different channels run concurrently;
answers through response_urls are sent apart, so the next command need not wait for them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack import translate
from bot.chat.slack.chat import SlackChat
from bot.chat.slack.worker import Worker
from bot.core import commands as c
from bot.core import messages
from bot.core.alerts import messages as alert_messages
from bot.core.alerts.intake import AlertIntake
from bot.core.router import Reply, Router
from bot.core.service import Invocation

log = logging.getLogger(__name__)

COMMAND = "/incident"
# Events listened to; manifest.py subscribes to exactly these (message in two channel kinds).
EVENTS = ("message", "reaction_added", "pin_added")
Authorize = Callable[..., Awaitable[AuthorizeResult]]


class SlackListeners:
    """What each Slack request does once acknowledged; the core does the rest."""

    def __init__(self, router: Router, chat: SlackChat, worker: Worker | None = None) -> None:
        self.router = router
        self.service = router.service
        self.store = router.service.store
        self.chat = chat
        self.worker = worker or Worker()
        self.alerts: AlertIntake | None = None  # set when alert intake runs (offer buttons)

    async def claim(self, key: str) -> bool:
        """True the first time a platform delivers this key (retries and double submits)."""
        return await self.store.claim_request(key, self.service.clock.now())

    # -- slash command -----------------------------------------------------------------------

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
        # Backpressure: in a burst that outruns the work, hold this ack (at most a second) so
        # that answers keep pace instead of queueing for as long as the burst lasts.
        await self.worker.wait_for_room()
        await ack()
        if isinstance(command, c.OpenDeclareForm):
            # A trigger_id lives about 3 s: open the form now, never behind other work.
            self.worker.submit(None, self.open_form(body), urgent=True)
            return
        key = f"channel:{body.get('channel_id')}"
        read = isinstance(command, c.READ_ONLY)
        self.worker.submit(key, self.run_command(body, command, text), read=read)

    async def run_command(self, body: dict[str, Any], command: c.Command, text: str) -> None:
        trigger = body.get("trigger_id")
        if (
            isinstance(command, c.Declare)
            and trigger
            and not await self.claim(f"slack:command:{trigger}")
        ):
            return  # the same command delivered twice: one incident, one channel
        ctx = translate.invocation(body)
        reply = await self.router.execute(ctx, command, text)
        if reply.open_form:
            await self.open_form(body)
            return
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
        await ack()
        form = translate.declare_from_view(view)
        self.worker.submit(f"channel:{form.channel_id}", self.run_declare_form(body))

    async def run_declare_form(self, body: dict[str, Any]) -> None:
        view = body["view"]
        # A double-clicked Declare sends the same view twice: one incident, one channel.
        if not await self.claim(f"slack:view:{view['id']}"):
            return
        form = translate.declare_from_view(view)
        ctx = translate.interaction_invocation(body, form.channel_id)
        reply = await self.router.execute(ctx, form.command)
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
        await ack()
        command = translate.task_change(action)
        if command is None:
            return
        channel, _ = translate.action_location(body)
        self.worker.submit(f"channel:{channel}", self.run_task_action(body, command))

    async def run_task_action(self, body: dict[str, Any], command: c.ChangeTask) -> None:
        channel, ts = translate.action_location(body)
        ctx = translate.interaction_invocation(body, channel)
        reply = await self.router.execute(ctx, command)
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
        await ack()
        offer = translate.alert_offer(action)
        if offer is None or self.alerts is None:
            return
        channel, _ = translate.action_location(body)
        self.worker.submit(f"channel:{channel}", self.run_alert_action(body, offer))

    async def run_alert_action(self, body: dict[str, Any], offer: int) -> None:
        assert self.alerts is not None
        ctx = translate.interaction_invocation(body, translate.action_location(body)[0])
        try:
            incident = await self.alerts.declare_offer(offer, ctx.user)
        except c.UsageError as error:
            await self.tell(ctx, Reply(str(error)))
            return
        await self.tell(ctx, Reply(alert_messages.declared(incident.ref)))

    # -- a page's Acknowledge button ---------------------------------------------------------

    async def on_page_ack(
        self,
        ack: Callable[..., Awaitable[Any]],
        body: dict[str, Any],
        action: dict[str, Any],
    ) -> None:
        await ack()
        pressed = translate.page_ack_press(action)
        if pressed is not None:
            self.worker.submit(f"page:{pressed[0]}", self.run_page_ack(body, *pressed))

    async def run_page_ack(self, body: dict[str, Any], number: int, paged: str) -> None:
        ctx = translate.interaction_invocation(body, None)
        reply = await self.router.execute(ctx, c.Acknowledge(number, paged))
        # The direct message becomes the answer, so its button cannot be pressed again; a
        # refused press (not the paged person) leaves it and tells only the presser.
        await self.respond(body, reply, replace_original=not reply.refused)

    # -- channel events ------------------------------------------------------------------------

    async def on_event(self, ack: Callable[..., Awaitable[Any]], body: dict[str, Any]) -> None:
        await ack()
        change = translate.timeline_change(body.get("event") or {})
        if change is None:
            return
        channel = translate.channel_of(change)
        self.worker.submit(f"channel:{channel}", self.run_event(body.get("event_id"), change))

    async def run_event(self, event_id: str | None, change: translate.TimelineChange) -> None:
        # Slack redelivers an event it thinks was not acknowledged (X-Slack-Retry-Num).
        if event_id and not await self.claim(f"slack:event:{event_id}"):
            return
        service = self.service
        match change:
            case translate.Posted(channel=channel, user=user, text=text, ts=ts):
                await service.record_message(
                    translate.PLATFORM,
                    channel,
                    user,
                    text,
                    occurred_at=translate.ts_to_datetime(ts),
                    source_key=translate.source_key(channel, ts),
                )
            case translate.Edited(key=key, text=text):
                await service.edit_message(key, text)
            case translate.Deleted(key=key):
                await service.delete_message(key)
            case translate.Highlighted(key=key, by=by):
                await service.highlight(key, by)

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
    app.command(COMMAND)(listeners.on_command)
    app.view_submission(translate.DECLARE_CALLBACK)(listeners.on_declare_submission)
    app.action(translate.TASK_ACTION)(listeners.on_task_action)
    app.action(translate.ALERT_ACTION)(listeners.on_alert_action)
    app.action(translate.PAGE_ACK_ACTION)(listeners.on_page_ack)
    for event in EVENTS:
        app.event(event)(listeners.on_event)
    return app
