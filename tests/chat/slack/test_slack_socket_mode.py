"""Socket Mode: the same listeners behind a websocket instead of /slack/events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from conftest import ALICE, GENERAL, TEAM_ID, authorize
from slack_peer import BOT_TOKEN, RecordingSleep, SlackPeer

from bot.app import App, build_app
from bot.chat.slack.platform import SlackPlatform, build_slack_platform
from bot.core import messages
from bot.core.clock import ManualClock
from bot.settings import Settings

APP_TOKEN = "xapp-1-A0APP00001-test"


@pytest.fixture
async def socket_bot(sqlite_url: str, peer: SlackPeer) -> AsyncIterator[tuple[App, SlackPlatform]]:
    settings = Settings(
        database_url=sqlite_url,
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_api_url=peer.api_url,
    )
    app = await build_app(settings, clock=ManualClock())
    platform = build_slack_platform(app, authorize=authorize, sleep=RecordingSleep())
    app.add_platform(platform)
    await platform.start()
    try:
        yield app, platform
    finally:
        await app.close()


async def test_socket_mode_serves_no_routes_and_acks_envelopes(
    socket_bot: tuple[App, SlackPlatform], peer: SlackPeer
) -> None:
    _, platform = socket_bot
    assert platform.routes() == []
    (opened,) = [c for c in peer.calls if c.method == "apps.connections.open"]
    assert opened.token == APP_TOKEN
    ack = await peer.socket_send(
        {
            "envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "token": "x",
                "team_id": TEAM_ID,
                "channel_id": GENERAL,
                "user_id": ALICE,
                "command": "/incident",
                "text": "help",
                "response_url": peer.response_url("socket"),
                "trigger_id": "1.2.3",
                "api_app_id": "A0APP00001",
            },
        }
    )
    assert ack["envelope_id"] == "57d6a792-4d35-4d0b-b6aa-3361493e1caf"
    assert ack["payload"] == {"text": messages.HELP, "response_type": "ephemeral"}


async def test_socket_mode_declares_through_the_web_api(
    socket_bot: tuple[App, SlackPlatform], peer: SlackPeer
) -> None:
    app, platform = socket_bot
    await peer.socket_send(
        {
            "envelope_id": "e2",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "team_id": TEAM_ID,
                "channel_id": GENERAL,
                "user_id": ALICE,
                "command": "/incident",
                "text": "declare sev1 Queue stuck",
                "response_url": peer.response_url("socket"),
                "trigger_id": "1.2.4",
            },
        }
    )
    await platform.drain()
    assert peer.channel_named("inc-1-queue-stuck") is not None
    assert list(platform.listeners.worker.failures) == []
    (incident,) = await app.store.list_incidents()
    assert incident.channel_id == peer.channel_named("inc-1-queue-stuck")["id"]
