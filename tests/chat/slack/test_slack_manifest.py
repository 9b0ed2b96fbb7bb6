"""The manifest asks for what the code uses: every Web API method the adapter calls has its
scope, every event it listens to is subscribed, and the URLs point at /slack/events."""

from __future__ import annotations

import json

import pytest
from conftest import GENERAL, SlackBot

from bot.__main__ import main
from bot.chat.slack.listeners import EVENTS
from bot.chat.slack.manifest import EVENT_SCOPES, METHOD_SCOPES, manifest
from bot.core.router import Reply
from bot.core.service import Invocation


def test_http_manifest_points_everything_at_slack_events() -> None:
    m = manifest("https://bot.example.org/")
    url = "https://bot.example.org/slack/events"
    (command,) = m["features"]["slash_commands"]
    assert command["command"] == "/incident" and command["url"] == url
    assert command["should_escape"] is True
    assert m["settings"]["interactivity"]["request_url"] == url
    assert m["settings"]["event_subscriptions"]["request_url"] == url
    assert m["settings"]["socket_mode_enabled"] is False
    scopes = m["oauth_config"]["scopes"]["bot"]
    assert {
        "commands",
        "channels:manage",
        "groups:write",
        "chat:write",
        "pins:write",
        "files:write",
        "channels:history",
        "reactions:read",
        "pins:read",
    } <= set(scopes)


def test_socket_mode_manifest_has_no_urls() -> None:
    m = manifest(socket_mode=True)
    assert m["settings"]["socket_mode_enabled"] is True
    assert "url" not in m["features"]["slash_commands"][0]
    assert "request_url" not in m["settings"]["event_subscriptions"]


async def test_every_method_the_bot_calls_is_covered(bot: SlackBot) -> None:
    await bot.command("declare", trigger_id="1.1.form")
    await bot.command("declare sev1 Everything down")
    await bot.settle()
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.channel_id
    await bot.command("status looking", channel=incident.channel_id)
    await bot.settle()
    await bot.platform.chat.post_checklist(incident.channel_id, incident, [])
    await bot.platform.chat.upload(incident.channel_id, "a.md", b"x", "a")
    listeners = bot.platform.listeners
    await listeners.tell(Invocation("U0ALICE001", "slack", GENERAL), Reply("hello"))
    called = {call.method for call in bot.peer.calls}
    assert called - {"auth.test"} <= set(METHOD_SCOPES)
    assert "views.open" in called and "files.completeUploadExternal" in called


def test_every_event_listened_to_is_subscribed() -> None:
    subscribed = {event.split(".")[0] for event in EVENT_SCOPES}
    assert subscribed == set(EVENTS)
    assert set(manifest()["settings"]["event_subscriptions"]["bot_events"]) == set(EVENT_SCOPES)


def test_cli_prints_the_manifest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack", "manifest", "--url", "https://w.example.com"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["settings"]["interactivity"]["request_url"] == (
        "https://w.example.com/slack/events"
    )
    assert main(["slack", "manifest", "--socket-mode"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["socket_mode_enabled"] is True
