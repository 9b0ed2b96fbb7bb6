"""Our own Mattermost websocket loop (websockets' asyncio client).

Not the driver's: its `init_websocket` runs its own event loop (impossible inside ours) and
builds a client-auth TLS context that breaks wss:// on Python >= 3.10.

As the server behaves (api4/websocket.go, platform/web_hub.go): the token goes on the upgrade
request itself (`Authorization: Bearer`), because only a connection authenticated there may
resume a `connection_id`; an authentication_challenge after the upgrade always starts a new
connection, and the events posted during the gap are lost. On reconnect we pass the previous
connection_id and the next sequence number; the server then replays what it queued and sends
no `hello` (a `hello` comes only for a new connection, with a new id: then the sequence starts
again). Replayed duplicates are harmless: the timeline is keyed by post.

A token the server does not accept is no error at the upgrade: the socket is just never
authenticated, receives nothing and is closed a few seconds later. So a connection that ends
without a single frame has its token checked over REST (`check_token`); a refused one is logged
as an error naming MATTERMOST_TOKEN and retried only slowly, never quietly every second.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from bot.chat.mattermost import events

log = logging.getLogger(__name__)

Handler = Callable[[events.Event], Awaitable[None]]
Sleep = Callable[[float], Awaitable[object]]
CheckToken = Callable[[], Awaitable[bool]]


async def _assume_valid() -> bool:
    return True


class MattermostWebsocket:
    def __init__(
        self,
        url: str,
        token: str,
        handle: Handler,
        *,
        sleep: Sleep = asyncio.sleep,
        ssl_context: ssl.SSLContext | None = None,
        backoff: float = 1.0,
        max_delay: float = 60.0,
        check_token: CheckToken = _assume_valid,
    ) -> None:
        self.url = url
        self.token = token
        self.handle = handle
        self.sleep = sleep
        if url.startswith("wss://") and ssl_context is None:
            # A server-auth context (the driver's CLIENT_AUTH one fails certificate checks).
            ssl_context = ssl.create_default_context()
        self.ssl_context = ssl_context
        self.backoff = backoff
        self.max_delay = max_delay
        self.check_token = check_token
        self.connected = asyncio.Event()  # set while an authenticated connection is open
        self.connections = 0  # upgrades that succeeded: 1 + reconnections
        self.hellos = 0  # new connections the server started (a resumed one has no hello)
        self.failures = 0  # connection attempts that failed or ended
        self.refused = 0  # connections that failed because the token was refused
        self._connection_id = ""
        self._next_seq: int | None = None
        self._frames = 0  # frames received on the current connection

    def _connect_url(self) -> str:
        if not self._connection_id or self._next_seq is None:
            return self.url
        query = urlencode({"connection_id": self._connection_id, "sequence_number": self._next_seq})
        return f"{self.url}?{query}"

    async def run(self) -> None:
        """Follow events until cancelled, reconnecting with exponential backoff."""
        attempt = 0
        while True:
            self._frames = 0
            upgraded = False
            refused = False
            try:
                upgraded = await self._session()
            except InvalidStatus as error:
                status = error.response.status_code
                refused = status in (401, 403)  # a proxy in front may answer so
                if not refused:
                    log.warning("mattermost websocket: upgrade answered HTTP %d", status)
            except (OSError, TimeoutError, WebSocketException) as error:
                log.warning("mattermost websocket: %s", error or type(error).__name__)
            finally:
                self.connected.clear()
            self.failures += 1
            if upgraded and not self._frames:
                # Closed before saying anything: what the server does to a refused token.
                refused = not await self.check_token()
            if refused:
                self.refused += 1
                delay = self.max_delay
                log.error(
                    "mattermost websocket: the server refused MATTERMOST_TOKEN; messages are "
                    "not reaching incident timelines. Retrying in %.0fs",
                    delay,
                )
            else:
                attempt = 0 if self._frames else attempt + 1
                delay = min(self.backoff * 2 ** max(attempt - 1, 0), self.max_delay)
            await self.sleep(delay)

    async def _session(self) -> bool:
        """One connection, until it ends; True once the upgrade succeeded."""
        ssl_arg = self.ssl_context if self.url.startswith("wss://") else None
        headers = {"Authorization": f"Bearer {self.token}"}
        async with connect(
            self._connect_url(), ssl=ssl_arg, open_timeout=30, additional_headers=headers
        ) as socket:
            # A resumed connection gets no hello: connected from the upgrade on.
            self.connections += 1
            self.connected.set()
            async for frame in socket:
                self._frames += 1
                seq, event = events.parse_event(frame)
                if seq is not None:
                    self._next_seq = seq + 1
                match event:
                    case events.Hello(connection_id=connection_id):
                        # A new connection (the old one expired, or the server restarted).
                        self._connection_id = connection_id
                        self.hellos += 1
                    case events.AuthReply() | None:
                        continue
                    case _:
                        await self._dispatch(event)
        return True

    async def _dispatch(self, event: events.Event) -> None:
        # One event that cannot be handled (a database hiccup) must not end the loop.
        try:
            await self.handle(event)
        except Exception:
            log.exception("mattermost websocket: handling %s failed", type(event).__name__)
