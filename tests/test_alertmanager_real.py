"""End to end with the real Alertmanager 0.25 (Debian's prometheus-alertmanager): alerts pushed
through its API reach warroom through its webhook receiver (bearer token, send_resolved), are
grouped by it, and become one incident per group with each alert recorded once per status."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from alertmanager_server import Alertmanager, binary, running_alertmanager

from bot.alerts_web import alert_routes
from bot.app import App, add_console, build_app
from bot.chat.console.chat import ConsoleChat
from bot.core.alerts.intake import AlertIntake, Outcome
from bot.core.alerts.model import Notification
from bot.core.clock import ManualClock
from bot.core.model import EventKind
from bot.settings import Settings
from bot.web import build_web_app

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "am-token-123"

pytestmark = pytest.mark.skipif(
    binary() is None, reason="prometheus-alertmanager is not installed (apt-get install it)"
)


class RecordingIntake(AlertIntake):
    """The real intake, noting each notification it handled so the test can wait for one."""

    def __init__(self, base: AlertIntake) -> None:
        super().__init__(base.incidents, base.store, base.clock, base.rules, woke=base.woke)
        self.handled: list[tuple[Notification, Outcome]] = []
        self.changed = asyncio.Condition()

    async def handle(self, notification: Notification) -> Outcome:
        outcome = await super().handle(notification)
        async with self.changed:
            self.handled.append((notification, outcome))
            self.changed.notify_all()
        return outcome

    async def until(self, done: Callable[[], Any], within: float = 30) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(done), within)


@dataclass
class Stack:
    app: App
    chat: ConsoleChat
    intake: RecordingIntake
    am: Alertmanager


@pytest.fixture
async def stack(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    max_alerts = getattr(request, "param", 0)  # the receiver's max_alerts (0: all)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/warroom.db",
        playbooks=str(ROOT / "playbooks"),
        catalog=str(ROOT / "catalog.example.yaml"),
        announce_channel="alerts",
        alerts_token=TOKEN,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = await build_app(settings, clock=ManualClock(datetime.now(UTC)))
    chat = await add_console(app, lambda line: None)
    assert app.alerts is not None
    intake = RecordingIntake(app.alerts)
    web = build_web_app(app.store, app.metrics, alert_routes(intake, TOKEN))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(web, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        url = f"http://127.0.0.1:{port}/alerts/alertmanager"
        with running_alertmanager(tmp_path / "am", url, TOKEN, max_alerts=max_alerts) as am:
            yield Stack(app, chat, intake, am)
    finally:
        server.should_exit = True
        await serving
        sock.close()
        await app.close()


def am_alert(
    pod: str, *, severity: str = "critical", ends: datetime | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {
            "alertname": "HighErrorRate",
            "service": "checkout",
            "severity": severity,
            "pod": pod,
        },
        "annotations": {"summary": "Error rate above 5%"},
        "generatorURL": "http://prometheus:9090/graph",
    }
    if ends is not None:
        body["endsAt"] = ends.isoformat().replace("+00:00", "Z")
    return body


async def alert_events(stack: Stack, number: int = 1) -> list[tuple[str, str]]:
    return [
        (e.data["fingerprint"], e.data["status"])
        for e in await stack.app.store.timeline(number)
        if e.kind is EventKind.ALERT
    ]


async def test_real_alertmanager_group_becomes_one_incident_and_resolves(stack: Stack) -> None:
    pods = ["a", "b", "c"]
    await asyncio.to_thread(stack.am.push, [am_alert(p) for p in pods])
    await stack.intake.until(lambda: sum(len(n.alerts) for n, _ in stack.intake.handled) >= 3)
    await stack.intake.until(
        lambda: {a.fingerprint for n, _ in stack.intake.handled for a in n.alerts}.__len__() == 3
    )
    incidents = await stack.app.store.list_incidents()
    assert len(incidents) == 1 and incidents[0].service == "checkout"
    notification = stack.intake.handled[0][0]
    assert notification.group_key.startswith("{}:") and notification.receiver == "warroom"
    channel = stack.chat.channels[incidents[0].channel_name or ""]
    assert "bob" in channel.members  # the owning team's on-call was paged
    assert sorted(s for _, s in await alert_events(stack)) == ["firing"] * 3

    ended = datetime.now(UTC) - timedelta(seconds=1)
    await asyncio.to_thread(stack.am.push, [am_alert(p, ends=ended) for p in pods])
    said = "all 3 alerts resolved; /incident resolve?"
    await stack.intake.until(lambda: said in [t for _, t in stack.chat.posts])
    events = await alert_events(stack)
    assert sorted(s for _, s in events) == ["firing"] * 3 + ["resolved"] * 3
    assert len(set(events)) == 6  # each alert once per status
    assert [t for _, t in stack.chat.posts].count(said) == 1
    assert len(await stack.app.store.list_incidents(include_resolved=True)) == 1


async def test_real_alertmanager_warning_is_offered_once_per_group(stack: Stack) -> None:
    await asyncio.to_thread(
        stack.am.push, [am_alert("a", severity="warning"), am_alert("b", severity="warning")]
    )
    await stack.intake.until(
        lambda: {a.fingerprint for n, _ in stack.intake.handled for a in n.alerts}.__len__() == 2
    )
    offers = [t for c, t in stack.chat.posts if c == "alerts"]
    assert len(offers) == 1 and offers[0].startswith("Alert for checkout (payments on call: @bob)")
    assert await stack.app.store.list_incidents() == []


@pytest.mark.parametrize("stack", [2], indirect=True)
async def test_real_alertmanager_max_alerts_is_said_as_n_more_not_sent(stack: Stack) -> None:
    await asyncio.to_thread(stack.am.push, [am_alert(p) for p in "abcde"])
    await stack.intake.until(lambda: any(n.truncated_alerts == 3 for n, _ in stack.intake.handled))
    [notification] = [n for n, _ in stack.intake.handled if n.truncated_alerts == 3][:1]
    assert len(notification.alerts) == 2  # Alertmanager sent two of the group's five
    [incident] = await stack.app.store.list_incidents()
    said = "... and 3 more alerts not sent by Alertmanager (its max_alerts); see Alertmanager."
    assert said in [t for c, t in stack.chat.posts if c == incident.channel_name]
    timeline = await stack.app.store.timeline(incident.number)
    assert [e.data["truncated"] for e in timeline if e.data.get("status") == "truncated"] == [3]
