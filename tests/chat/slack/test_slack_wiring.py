"""How Slack is wired in: from settings, without test-only shortcuts, and kept out of core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import GENERAL, SIGNING_SECRET, SlackBot
from slack_peer import BOT_TOKEN, SlackPeer

from bot.app import build_app, configured_platforms
from bot.chat.slack.platform import SlackPlatform, build_slack_platform
from bot.core.clock import ManualClock
from bot.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[3]


def test_core_imports_no_slack() -> None:
    for path in (ROOT / "bot" / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("slack", "bot.chat")), f"{path}: imports {name}"


async def test_configured_platforms_builds_slack_from_settings(
    sqlite_url: str, peer: SlackPeer
) -> None:
    settings = Settings(
        database_url=sqlite_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=peer.api_url,
    )
    app = await build_app(settings, clock=ManualClock())
    try:
        (platform,) = configured_platforms(app)
        assert isinstance(platform, SlackPlatform) and not platform.socket_mode
        assert [route.path for route in platform.routes()] == ["/slack/events"]  # type: ignore[attr-defined]
    finally:
        await app.close()


async def test_socket_mode_without_a_bot_token_is_a_clear_settings_error(
    sqlite_url: str,
) -> None:
    app = await build_app(
        Settings(database_url=sqlite_url, slack_app_token="xapp-1"), clock=ManualClock()
    )
    try:
        with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN"):
            configured_platforms(app)
    finally:
        await app.close()


async def test_without_authorize_bolt_checks_the_token_with_auth_test(
    sqlite_url: str, peer: SlackPeer
) -> None:
    """The production path: no test authorize, Bolt asks the Web API who the token is."""
    settings = Settings(
        database_url=sqlite_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=peer.api_url,
    )
    app = await build_app(settings, clock=ManualClock())
    platform = build_slack_platform(app)
    app.add_platform(platform)
    bot = SlackBot(app, platform, peer, sleep=None)  # type: ignore[arg-type]
    try:
        response = await bot.command("list", channel=GENERAL)
        await bot.settle()
        assert [c.method for c in peer.calls] == ["auth.test"]
        assert peer.calls[0].token == BOT_TOKEN
        assert response.json()["text"].startswith("No open incidents")
    finally:
        await bot.close()
