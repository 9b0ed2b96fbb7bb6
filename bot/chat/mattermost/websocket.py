"""Our own Mattermost websocket loop (websockets' asyncio client).

Not the driver's: its `init_websocket` runs its own event loop (impossible inside ours) and
builds a client-auth TLS context that breaks wss:// on Python >= 3.10. The protocol is small:
send an authentication_challenge with the token, wait for `hello`, then read events. On
reconnect we pass the previous connection_id and next sequence number, so a server that still
holds the missed events replays them (duplicates are harmless: the timeline is keyed by post).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from bot.chat.mattermost import events

log = logging.getLogger(__name__)

Handler = Callable[[events.Event], Awaitable[None]]
Sleep = Callable[[float], Awaitable[object]]


class AuthenticationFailed(Exception):
    pass


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
        self.connected = asyncio.Event()  # set between `hello` and the connection's end
        self.connections = 0  # hellos received: 1 + reconnections
        self.failures = 0  # connection attempts that failed or ended
        self._connection_id = ""
        self._next_seq: int | None = None

    def _connect_url(self) -> str:
        if not self._connection_id or self._next_seq is None:
            return self.url
        query = urlencode({"connection_id": self._connection_id, "sequence_number": self._next_seq})
        return f"{self.url}?{query}"

    async def run(self) -> None:
        """Follow events until cancelled, reconnecting with exponential backoff."""
        attempt = 0
        while True:
            greeted = False
            try:
                greeted = await self._session()
            except (OSError, TimeoutError, WebSocketException, AuthenticationFailed) as error:
                log.warning("mattermost websocket: %s", error or type(error).__name__)
            finally:
                self.connected.clear()
            self.failures += 1
            attempt = 0 if greeted else attempt + 1
            delay = min(self.backoff * 2 ** max(attempt - 1, 0), self.max_delay)
            await self.sleep(delay)

    async def _session(self) -> bool:
        """One connection; True if it got as far as `hello` before it ended."""
        greeted = False
        ssl_arg = self.ssl_context if self.url.startswith("wss://") else None
        async with connect(self._connect_url(), ssl=ssl_arg, open_timeout=30) as socket:
            await socket.send(events.auth_challenge(1, self.token))
            async for frame in socket:
                seq, event = events.parse_event(frame)
                if seq is not None:
                    self._next_seq = seq + 1
                match event:
                    case events.AuthReply(ok=False):
                        raise AuthenticationFailed("the server refused MATTERMOST_TOKEN")
                    case events.Hello(connection_id=connection_id):
                        if connection_id != self._connection_id:
                            self._connection_id = connection_id
                        greeted = True
                        self.connections += 1
                        self.connected.set()
                    case events.AuthReply() | None:
                        continue
                    case _:
                        await self._dispatch(event)
        return greeted

    async def _dispatch(self, event: events.Event) -> None:
        # One event that cannot be handled (a database hiccup) must not end the loop.
        try:
            await self.handle(event)
        except Exception:
            log.exception("mattermost websocket: handling %s failed", type(event).__name__)
