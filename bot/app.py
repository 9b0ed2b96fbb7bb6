"""Composition root: the only module that knows every adapter. Builds objects, passes them in."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from starlette.routing import BaseRoute

from bot import redact
from bot.chat.console.chat import ConsoleChat
from bot.core.alerts.intake import AlertIntake
from bot.core.alerts.owners import Incidents
from bot.core.catalog import Catalog
from bot.core.clock import SystemClock
from bot.core.ports import Chat, Clock
from bot.core.router import Router
from bot.core.runner import PlaybookRunner
from bot.core.service import IncidentService
from bot.metrics import Metrics
from bot.pagerduty import EVENTS_URL, PagerDutyEvents
from bot.playbooks.alert_rules import load_rules
from bot.playbooks.catalog_loader import load_catalog
from bot.playbooks.loader import load_library
from bot.schedule.outbox import OutboxWorker
from bot.schedule.ticker import Ticker
from bot.settings import Settings
from bot.store import schema
from bot.store.alerts import SqlAlerts
from bot.store.inbox import SqlInbox
from bot.store.outbox import OutboxChat, SqlOutbox
from bot.store.reminders import SqlReminders
from bot.store.sql import SqlStore

log = logging.getLogger(__name__)


class Platform(Protocol):
    """A chat platform adapter as the composition root sees it."""

    chat: Chat

    def routes(self) -> list[BaseRoute]:
        """HTTP routes it serves (slash commands, interactions, events)."""
        ...

    async def start(self) -> None:
        """Start background connections (Socket Mode, websocket); return once started."""
        ...

    async def stop(self) -> None: ...


@dataclass
class App:
    settings: Settings
    store: SqlStore
    clock: Clock
    service: IncidentService
    router: Router
    metrics: Metrics
    platforms: list[Platform] = field(default_factory=list)
    ticker: Ticker | None = None
    alerts: AlertIntake | None = None
    # What was loaded from where, for the start-up banner of `run` and `console`.
    sources: str = ""
    inbox: SqlInbox | None = None
    outbox: OutboxWorker | None = None
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    def add_platform(self, platform: Platform) -> None:
        self.platforms.append(platform)
        name = platform.chat.platform
        # The service looks chats up by platform name when it acts on an incident. Its chat
        # side effects become outbox rows, written in the transaction of their cause; the
        # outbox worker performs them on the real chat.
        if self.outbox is not None:
            self.outbox.chats[name] = platform.chat  # type: ignore[index]
            chat: Chat = OutboxChat(platform.chat, self.store.engine, self.clock, self.outbox)
        else:
            chat = platform.chat
        self.service.chats[name] = chat  # type: ignore[index]

    async def replay(self) -> int:
        """Handle what a crash left in the inbox (and the journal), before serving."""
        if self.inbox is None:
            return 0
        count = 0
        try:
            count += await self.inbox.replay_journal()
        except Exception as error:
            log.warning("journal replay postponed (%s)", error)
        return count + await self.inbox.replay_pending()

    def start_reminders(self) -> None:
        """Start the reminder ticker, outbox delivery and inbox replay on the running loop
        (`run` and `console` do this)."""
        if self.ticker is not None:
            self.ticker.start()
        if self.outbox is not None:
            self.outbox.start()
        if self.inbox is not None and not self._background:
            self._background.append(asyncio.create_task(self.inbox.run_background()))
        settle_heap()

    async def close(self, grace: float = 0.0) -> None:
        """Stop; with `grace` seconds, first finish in-flight work (SIGTERM's drain)."""
        if self.ticker is not None:
            self.ticker.stop()
            await self.ticker.idle()
        for task in self._background:
            task.cancel()
        for platform in self.platforms:
            try:
                await asyncio.wait_for(platform.stop(), grace or None)
            except TimeoutError:
                log.warning(
                    "shutdown: %s work did not finish in %.0fs", platform.chat.platform, grace
                )
        await self.service.close()
        external = self.service.runner.pager.external if self.service.runner else None
        if isinstance(external, PagerDutyEvents):
            await external.close()
        if self.outbox is not None:
            await self.outbox.stop(grace)
        if self.inbox is not None:
            await self.inbox.close()
        await self.store.close()


async def open_store(settings: Settings) -> SqlStore:
    """Connect and bring the schema to head (idempotent; locked on Postgres)."""
    return await schema.open_store(settings.database_url)


async def build_app(settings: Settings, *, clock: Clock | None = None) -> App:
    # From here on no log line shows a configured secret (bot/redact.py).
    redact.install(redact.secrets_of(settings))
    # Playbooks first: an invalid playbook stops start-up (PlaybookErrors) before anything
    # connects, with the same file:line:col problems `warroom playbook lint` prints.
    library = load_library(settings.playbooks)
    catalog = load_catalog(settings.catalog) if settings.catalog else None
    rules = load_rules(settings.alert_rules, catalog) if settings.alert_rules else None
    store = await open_store(settings)
    clock = clock or SystemClock()
    metrics = Metrics()
    chats: dict[str, Chat] = {}
    service = IncidentService(
        store,
        chats,
        clock,
        announce_channels=settings.announce_channels(),
        admins=settings.admin_names,
    )
    outbox = OutboxWorker(SqlOutbox(store.engine), store, {}, clock)
    router = Router(service, observe=metrics.observe_command, deliveries=outbox)
    reminders = SqlReminders(store.engine)
    service.runner = PlaybookRunner(
        service, library, reminders, catalog, external_pager(settings, catalog)
    )
    outbox.reactor = service.runner.react
    ticker = Ticker(
        reminders,
        service.runner.fire,
        clock,
        transaction=store.transaction,
        woke=outbox.kick,
        fire_batch=service.runner.fire_batch,
    )
    inbox = SqlInbox(store.engine, clock, settings.journal)
    inbox.recorder = service.ingest.record_now  # a posted message: one commit with its event
    incidents = Incidents(service, catalog, service.runner.pager)
    alerts = AlertIntake(
        incidents, SqlAlerts(store, woke=outbox.kick), clock, rules, woke=outbox.kick
    )
    sources = describe_sources(settings, library.names(), catalog)
    return App(
        settings,
        store,
        clock,
        service,
        router,
        metrics,
        ticker=ticker,
        alerts=alerts,
        sources=sources,
        inbox=inbox,
        outbox=outbox,
    )


def describe_sources(settings: Settings, playbooks: list[str], catalog: object | None) -> str:
    """One line: which playbooks and catalog this process runs, and from where."""
    from bot.shipped import playbooks_dir

    folder = Path(settings.playbooks)
    if playbooks:
        shipped = folder.resolve() == playbooks_dir().resolve()
        where = f"{folder} (shipped with warroom)" if shipped else str(folder)
        text = f"playbooks {', '.join(playbooks)} from {where}"
    elif not folder.exists():
        # Not an error (WARROOM_PLAYBOOKS may be set on purpose), but say why no checklist.
        text = f"no playbooks (no folder at {folder}; set WARROOM_PLAYBOOKS)"
    else:
        text = f"no playbooks in {folder}"
    if catalog is None:
        return f"{text}; no service catalog (set WARROOM_CATALOG)"
    services = len(getattr(catalog, "services", []))
    return f"{text}; catalog {settings.catalog} ({services} service(s))"


def external_pager(settings: Settings, catalog: Catalog | None) -> PagerDutyEvents | None:
    """PagerDuty, when some service or team in the catalog has a routing key."""
    if catalog is None or not (
        any(s.pagerduty for s in catalog.services) or any(t.pagerduty for t in catalog.teams)
    ):
        return None
    return PagerDutyEvents(settings.pagerduty_url or EVENTS_URL)


async def add_console(
    app: App, write: Callable[[str], None] = print, files: Path | None = None
) -> ConsoleChat:
    chat = ConsoleChat(write, files=files)
    # Open incidents' channels, so /channels lists them. (Names cannot collide with a new
    # incident's: each starts with its never-reused number, so history need not be read.)
    for incident in await app.store.list_incidents(limit=10_000):
        if incident.platform == chat.platform and incident.channel_name:
            chat.know(incident.channel_name, private=incident.private)
    app.service.chats[chat.platform] = chat  # type: ignore[index]
    return chat


async def build_console_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    write: Callable[[str], None] = print,
    files: Path | None = None,
) -> tuple[App, ConsoleChat]:
    app = await build_app(settings, clock=clock)
    return app, await add_console(app, write, files)


def alert_routes(app: App) -> list[BaseRoute]:
    """/alerts/alertmanager and /alerts/grafana, when WARROOM_ALERTS_TOKEN is set."""
    if app.alerts is None or not app.settings.alerts_token:
        return []
    from bot.alerts_web import alert_routes as routes

    return routes(app.alerts, app.settings.alerts_token)


def configured_platforms(app: App) -> list[Platform]:
    """An adapter for every platform whose settings are present (imported only then, so a
    console-only install never loads slack_bolt or mattermostdriver)."""
    platforms: list[Platform] = []
    if app.settings.slack_configured:
        from bot.chat.slack.platform import build_slack_platform

        platforms.append(build_slack_platform(app))
    if app.settings.mattermost_configured:
        from bot.chat.mattermost.platform import build_mattermost_platform

        platforms.append(build_mattermost_platform(app))
    return platforms


def settle_heap() -> None:
    """What was built to start (SQLAlchemy's tables and compiled statements, playbooks, the
    catalog, every imported module) lives as long as the process: move it out of the
    collector's way (about 150,000 objects). Otherwise every full collection walks all of it
    again, on the path of whichever command triggered it: 80-106 ms each on the 2-core
    machine, where the frozen heap's are 2-9 ms."""
    gc.collect()
    gc.freeze()
