"""The Slack platform as the composition root sees it: routes for HTTP mode, or a Socket Mode
connection when SLACK_APP_TOKEN is set."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.chat.slack.chat import SlackChat, Sleep, make_client
from bot.chat.slack.listeners import COMMAND, Authorize, SlackListeners, build_bolt_app
from bot.chat.slack.worker import REQUEST_ARRIVED
from bot.settings import SettingsError

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


class SlackPlatform:
    def __init__(
        self,
        bolt: AsyncApp,
        chat: SlackChat,
        listeners: SlackListeners,
        app_token: str | None,
        signing_secret: str | None = None,
    ) -> None:
        self.bolt = bolt
        self.chat = chat
        self.listeners = listeners
        self.app_token = app_token
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self._handler = AsyncSlackRequestHandler(bolt)
        self._socket: AsyncSocketModeHandler | None = None
        self.deliver: Callable[[], Awaitable[object]] | None = None

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    def routes(self) -> list[BaseRoute]:
        if self.socket_mode:
            return []  # Slack talks to us over the Socket Mode websocket instead
        return [Route(EVENTS_PATH, self.handle, methods=["POST"])]

    async def handle(self, request: Request) -> Response:
        REQUEST_ARRIVED.set(asyncio.get_running_loop().time())  # bounds backpressure holds
        refused = await self.refuse(request)
        if refused is not None:
            return refused
        body = await request.body()
        command = self._command(request, body)
        if command is not None:
            return await self._run_command(command)
        payload = _event_callback(request, body)
        if payload is not None:
            if not isinstance(payload.get("event", {}), dict):
                # Bolt's middleware would fail on it with a traceback and a 500.
                return self._malformed(request)
            if await self.listeners.on_posted(payload):
                return Response(status_code=200)  # what Bolt answers an acknowledged event
        try:
            return await self._handler.handle(request)
        except (ValueError, AttributeError, TypeError):
            # Bolt parses the body before any listener runs: a body it cannot read
            # (signed, so from someone with the secret) is refused in one line.
            return self._malformed(request)

    def _command(self, request: Request, body: bytes) -> dict[str, str] | None:
        """An `/incident` slash command's form, to run without Bolt's dispatch (its middleware
        and matchers cost more than a `list` answered in its ack): only once Bolt has
        authorized a command, and not an `ssl_check` (Bolt answers it). Bolt reads any form
        whose text holds the word "payload" as interactivity and finds no command in it (a
        404: `/incident note the payload service is down` failed); this reads the form."""
        if not self.listeners.commands_authorized or self.socket_mode:
            return None
        if request.headers.get("content-type", "") != "application/x-www-form-urlencoded":
            return None
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        if form.get("command") != COMMAND or "ssl_check" in form or "payload" in form:
            return None
        return form

    async def _run_command(self, form: dict[str, str]) -> Response:
        """The command's listener with an `ack` that answers as Bolt's does: no text, an empty
        200; text, a JSON body."""
        answer = _Ack()
        try:
            await self.listeners.on_command(answer, form)
        except Exception:
            log.exception("slack: a command failed before its acknowledgement")
            return Response(status_code=500)
        return answer.response()

    @staticmethod
    def _malformed(request: Request) -> Response:
        peer = request.client.host if request.client else "?"
        log.warning("slack: refused a request from %s: malformed body", peer)
        return Response("malformed request body", status_code=400)

    async def refuse(self, request: Request) -> Response | None:
        """401 for a bad signature, 400 for a body that is not UTF-8; None to go on. Bolt
        parses before it checks the signature, so unsigned garbage was a 500 with a
        traceback there; here it is one log line."""
        body = await request.body()  # Starlette keeps it: Bolt reads the same bytes
        peer = request.client.host if request.client else "?"
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None  # Slack sends UTF-8: this is not from Slack, signed or not
        if self._verifier is not None and not self._signed(request, text or ""):
            log.warning("slack: refused a request from %s: bad or missing signature", peer)
            return Response("invalid request signature", status_code=401)
        if text is None:
            return self._malformed(request)
        return None

    def _signed(self, request: Request, body: str) -> bool:
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not timestamp.isdigit() or not signature or self._verifier is None:
            return False
        return self._verifier.is_valid(body, timestamp, signature)

    async def start(self) -> None:
        if self.socket_mode and self._socket is None:
            self._socket = AsyncSocketModeHandler(self.bolt, self.app_token)
            await self._socket.connect_async()
            log.warning("slack: connected in Socket Mode")

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        await self.drain()
        await self.chat.close()

    async def drain(self) -> None:
        """Wait for acknowledged work to finish (shutdown, and tests before they look): the
        listeners' work, the messages it handed to the timeline, and the chat side effects
        it caused (the outbox, when the app has one)."""
        await self.listeners.worker.drain()
        await self.listeners.service.ingest.flush()
        if self.deliver is not None:
            await self.deliver()


class _Ack:
    """Bolt's `ack` for a slash command, as SlackListeners.on_command calls it."""

    def __init__(self) -> None:
        self.body: dict[str, Any] | None = None

    async def __call__(self, text: str = "", response_type: str | None = None) -> None:
        if text or response_type:
            self.body = {"text": text} | ({"response_type": response_type} if response_type else {})

    def response(self) -> Response:
        if self.body is None:
            return Response(b"", media_type="text/plain;charset=utf-8")
        if set(self.body) == {"text"}:  # (Bolt answers bare text as text)
            return Response(self.body["text"], media_type="text/plain;charset=utf-8")
        return Response(json.dumps(self.body), media_type="application/json;charset=utf-8")


def _event_callback(request: Request, body: bytes) -> dict[str, Any] | None:
    """The Events API's JSON body, or None (commands, actions and forms are form-encoded)."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None  # Bolt refuses it as it refuses any unreadable body
    return payload if isinstance(payload, dict) else None


def build_slack_platform(
    app: App, *, authorize: Authorize | None = None, sleep: Sleep = asyncio.sleep
) -> SlackPlatform:
    """Slack from settings. `authorize` replaces Bolt's token check (tests have no Slack);
    `sleep` is what the retry policy waits with (tests record instead of sleeping)."""
    settings = app.settings
    if not settings.slack_bot_token:
        raise SettingsError(
            "SLACK_BOT_TOKEN is not set: Slack needs the bot token (xoxb-...) in HTTP and "
            "Socket Mode alike (see `warroom slack manifest`)."
        )
    if not settings.slack_app_token and not settings.slack_signing_secret:
        raise SettingsError(
            "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to check requests come from "
            "Slack (or set SLACK_APP_TOKEN for Socket Mode)."
        )
    client = make_client(settings.slack_bot_token, settings.slack_api_url)
    chat = SlackChat(client, sleep=sleep)
    listeners = SlackListeners(app.router, chat, inbox=app.inbox)
    if app.inbox is not None:
        app.inbox.handlers[chat.platform] = listeners.replay
    listeners.alerts = app.alerts
    # The platform checks every HTTP request's signature before Bolt sees it (SlackPlatform.
    # refuse), so Bolt does not check it a second time.
    bolt = build_bolt_app(listeners, client=client, signing_secret=None, authorize=authorize)
    signing_secret = None if settings.slack_app_token else settings.slack_signing_secret
    platform = SlackPlatform(bolt, chat, listeners, settings.slack_app_token, signing_secret)
    if app.outbox is not None:
        platform.deliver = app.outbox.deliver_due
    return platform
