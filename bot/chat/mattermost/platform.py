"""The Mattermost platform as the composition root sees it: chat, HTTP routes, websocket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING

import requests
from mattermostdriver.exceptions import NoAccessTokenProvided, ResourceNotFound
from starlette.routing import BaseRoute

from bot.chat.mattermost import events
from bot.chat.mattermost import translate as t
from bot.chat.mattermost.chat import MattermostChat, Sleep, websocket_url
from bot.chat.mattermost.routes import MattermostRoutes
from bot.chat.mattermost.websocket import MattermostWebsocket
from bot.core.service import IncidentService
from bot.settings import SettingsError

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)


class TimelineFollower:
    """Websocket events -> the incident timeline. Messages in channels that are not an
    incident's are dropped by the service; the bot's own posts, system posts and integration
    posts (`from_webhook`: among them our answers to slash commands, which Mattermost posts
    under the invoking user's id) are dropped here.

    New messages are recorded without waiting for each write, so a burst reaches the store
    in batches (the service groups the writes); an edit, deletion or pin first waits for the
    messages before it, so it always finds the message it changes.
    """

    def __init__(
        self, chat: MattermostChat, service: IncidentService, *, max_pending: int = 1000
    ) -> None:
        self.chat = chat
        self.service = service
        self.max_pending = max_pending
        self._pending: set[asyncio.Task[bool]] = set()

    async def __call__(self, event: events.Event) -> None:
        match event:
            case events.Posted() if self._said_by_a_person(event):
                record = self.service.record_message(
                    t.PLATFORM,
                    event.channel_id,
                    await self.chat.username(event.user_id),
                    event.text,
                    occurred_at=event.created_at,
                    source_key=t.source_key(event.post_id),
                )
                task = asyncio.create_task(record)
                self._pending.add(task)
                task.add_done_callback(self._finished)
                if len(self._pending) >= self.max_pending:
                    await self.drain()
            case events.Edited() if event.user_id != self.chat.bot_user_id:
                await self.drain()
                await self.service.edit_message(t.source_key(event.post_id), event.text)
            case events.Deleted():
                await self.drain()
                await self.service.delete_message(t.source_key(event.post_id))
            case events.Reacted(emoji=events.PIN_EMOJI):
                user = await self.chat.username(event.user_id)
                await self.drain()
                await self.service.highlight(t.source_key(event.post_id), user)

    def _said_by_a_person(self, event: events.Posted) -> bool:
        return event.user_id != self.chat.bot_user_id and not event.kind and not event.from_webhook

    async def drain(self) -> None:
        """Wait until every message handed over so far is written (or failed)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _finished(self, task: asyncio.Task[bool]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording a Mattermost message failed", exc_info=task.exception())


class MattermostPlatform:
    def __init__(
        self,
        chat: MattermostChat,
        http: MattermostRoutes,
        socket: MattermostWebsocket,
        follower: TimelineFollower,
    ) -> None:
        self.chat = chat
        self.http = http
        self.socket = socket
        self.follower = follower
        self._task: asyncio.Task[None] | None = None

    def routes(self) -> list[BaseRoute]:
        return self.http.routes()

    async def start(self) -> None:
        # Knowing the bot's own user id first is what lets the follower skip its posts.
        try:
            await self.chat.connect()
        except NoAccessTokenProvided:
            raise SettingsError(
                "Mattermost refused MATTERMOST_TOKEN: use the bot account's access token"
            ) from None
        except ResourceNotFound:
            raise SettingsError(
                f"MATTERMOST_TEAM: Mattermost has no team named {self.chat.team!r} "
                "(use the team's URL name) or the bot is not in it"
            ) from None
        except requests.RequestException as error:
            raise SettingsError(
                f"cannot reach Mattermost at MATTERMOST_URL ({error.__class__.__name__}); "
                "check the URL and that the server is up"
            ) from None
        self._task = asyncio.create_task(self.socket.run(), name="mattermost-websocket")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.follower.drain()


def build_mattermost_platform(
    app: App, *, sleep: Sleep = asyncio.sleep, ssl_context: ssl.SSLContext | None = None
) -> MattermostPlatform:
    settings = app.settings
    url, token, team = settings.mattermost_url, settings.mattermost_token, settings.mattermost_team
    if not (url and token and team):
        raise SettingsError(
            "MATTERMOST_URL, MATTERMOST_TOKEN and MATTERMOST_TEAM are all needed for Mattermost"
        )
    chat = MattermostChat.from_settings(url, token, team, settings.public_url, sleep=sleep)
    http = MattermostRoutes(chat, app.router, settings.mattermost_command_token)
    http.alerts = app.alerts
    follower = TimelineFollower(chat, app.service)
    socket = MattermostWebsocket(
        websocket_url(chat.driver),
        token,
        follower,
        sleep=sleep,
        ssl_context=ssl_context,
        check_token=chat.token_accepted,
    )
    return MattermostPlatform(chat, http, socket, follower)
