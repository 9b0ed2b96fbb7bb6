"""The whole bot wired for Mattermost against the local peer: settings, app, platform, and
an HTTP client that posts to the bot's routes as Mattermost would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from mattermost_peer import COMMAND_TOKEN, TOKEN, FakeSleep, MattermostPeer

from bot.app import App, build_app
from bot.chat.mattermost import events
from bot.chat.mattermost.platform import MattermostPlatform, build_mattermost_platform
from bot.core.clock import ManualClock
from bot.settings import Settings
from bot.web import build_web_app


class SeenEvents:
    """Wraps the websocket's handler: runs it, then notes the event, so a test can wait
    until the bot has handled something instead of sleeping."""

    def __init__(
        self, handle: Callable[[events.Event], Any], drain: Callable[[], Any] | None = None
    ) -> None:
        self.handle = handle
        # The follower records messages without waiting for the write; a test that reads
        # the store after an event waits for the write too.
        self.drain = drain
        self.events: list[events.Event] = []
        self._changed = asyncio.Condition()

    async def __call__(self, event: events.Event) -> None:
        try:
            await self.handle(event)
            if self.drain is not None:
                await self.drain()
        finally:
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[events.Event], bool]) -> events.Event:
        def found() -> events.Event | None:
            return next((e for e in self.events if predicate(e)), None)

        async with self._changed:
            # The timeout only turns a hang into a failure; passing tests never reach it.
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), 10)
        event = found()
        assert event is not None
        return event


@dataclass
class Bot:
    peer: MattermostPeer
    app: App
    platform: MattermostPlatform
    http: httpx.AsyncClient
    seen: SeenEvents
    sleep: FakeSleep

    async def command(self, user: str, channel_id: str, text: str, **kw: Any) -> httpx.Response:
        """`/incident text` typed by `user`, run through the peer as Mattermost runs it (the
        bot's answer is posted or dropped as the server would)."""
        return await self.peer.execute_command(self.http, user, channel_id, text, **kw)


@asynccontextmanager
async def running_bot(
    peer: MattermostPeer, database_url: str, *, drain_each: bool = True, **settings: Any
) -> AsyncIterator[Bot]:
    peer.add_channel("incidents")
    values: dict[str, Any] = {
        "database_url": database_url,
        "mattermost_url": peer.url,
        "mattermost_token": TOKEN,
        "mattermost_team": peer.team["name"],
        "mattermost_command_token": COMMAND_TOKEN,
        "public_url": "http://warroom.test",
        "announce_channel": "incidents",
        # Adapter tests pin exact posts: run without the shipped playbooks (a missing folder is
        # an empty library). Playbook behaviour has its own tests.
        "playbooks": str(Path(__file__).parent / "no-playbooks"),
        **settings,
    }
    app = await build_app(Settings(_env_file=None, **values), clock=ManualClock())  # type: ignore[call-arg]
    sleep = FakeSleep()
    platform = build_mattermost_platform(app, sleep=sleep)
    seen = SeenEvents(platform.socket.handle, platform.follower.drain if drain_each else None)
    platform.socket.handle = seen
    app.add_platform(platform)
    web = build_web_app(app.store, app.metrics, platform.routes())
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://warroom.test") as http:
        try:
            yield Bot(peer, app, platform, http, seen, sleep)
        finally:
            await app.close()
