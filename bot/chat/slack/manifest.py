"""The Slack app manifest: exactly the scopes, command and events this adapter uses.

Keep it in step with chat.py (Web API methods -> scopes) and listeners.py (command, events,
interactivity); tests/chat/slack/test_manifest.py checks the two against each other."""

from __future__ import annotations

from typing import Any

from bot.chat.slack.listeners import COMMAND
from bot.chat.slack.platform import EVENTS_PATH

PLACEHOLDER_URL = "https://warroom.example.com"

# Web API method -> the bot scope it needs (public channel scope, private channel scope).
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "conversations.create": ("channels:manage", "groups:write"),
    "users.conversations": ("channels:read", "groups:read"),  # find a channel made before
    "conversations.invite": ("channels:manage", "groups:write"),
    "conversations.setTopic": ("channels:manage", "groups:write"),
    "conversations.setPurpose": ("channels:manage", "groups:write"),
    "chat.postMessage": ("chat:write", "chat:write.public"),  # .public: the announce channel
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "pins.add": ("pins:write",),
    "views.open": (),  # needs only a trigger_id
    "conversations.open": ("im:write",),  # a page's direct message
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
}
# Event -> the scope that delivers it. Messages in public and private incident channels.
EVENT_SCOPES: dict[str, str] = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "reaction_added": "reactions:read",
    "pin_added": "pins:read",
}


def bot_scopes() -> list[str]:
    scopes = {"commands"}
    for needed in METHOD_SCOPES.values():
        scopes.update(needed)
    scopes.update(EVENT_SCOPES.values())
    return sorted(scopes)


def manifest(base_url: str | None = None, *, socket_mode: bool = False) -> dict[str, Any]:
    """A manifest for an app served at base_url (HTTP mode) or over Socket Mode."""
    url = (base_url or PLACEHOLDER_URL).rstrip("/") + EVENTS_PATH
    command: dict[str, Any] = {
        "command": COMMAND,
        "description": "Declare and run incidents",
        "usage_hint": "declare [sev1..sev4] [service:NAME] [--private] TITLE | help",
        # Mentions arrive as <@U123|alice>, which the adapter turns into user ids.
        "should_escape": True,
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    events: dict[str, Any] = {"bot_events": sorted(EVENT_SCOPES)}
    if not socket_mode:
        command["url"] = url
        interactivity["request_url"] = url
        events["request_url"] = url
    return {
        "display_information": {
            "name": "warroom",
            "description": "Incident channels, checklists, timeline and postmortems.",
        },
        "features": {
            "bot_user": {"display_name": "warroom", "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": bot_scopes()}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
