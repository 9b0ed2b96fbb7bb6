"""Composition root: the only module that knows every adapter. Builds objects, passes them in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.chat.console.chat import ConsoleChat
from bot.core.clock import SystemClock
from bot.core.ports import Chat, Clock
from bot.core.router import Router
from bot.core.service import IncidentService
from bot.settings import Settings
from bot.store import migrate
from bot.store.sql import SqlStore


@dataclass
class App:
    settings: Settings
    store: SqlStore
    clock: Clock
    chats: dict[str, Chat]
    service: IncidentService
    router: Router

    async def close(self) -> None:
        await self.store.close()


async def open_store(settings: Settings) -> SqlStore:
    """Connect and bring the schema to head (idempotent; locked on Postgres)."""
    store = SqlStore.from_url(settings.database_url)
    try:
        await migrate.upgrade(store.engine)
    except BaseException:
        await store.close()
        raise
    return store


async def build_console_app(
    settings: Settings, *, clock: Clock | None = None, write: Callable[[str], None] = print
) -> tuple[App, ConsoleChat]:
    store = await open_store(settings)
    chat = ConsoleChat(write)
    # Earlier runs' incident channels exist already: a new channel must not take their names.
    for incident in await store.list_incidents(include_resolved=True, limit=1_000_000):
        if incident.platform == chat.platform and incident.channel_name:
            chat.know(incident.channel_name, private=incident.private)
    clock = clock or SystemClock()
    chats: dict[str, Chat] = {chat.platform: chat}
    service = IncidentService(store, chats, clock, announce_channel=settings.announce_channel)
    return App(settings, store, clock, chats, service, Router(service)), chat
