"""Mattermost websocket frames -> events, as pure functions (the websocket half of
translate.py). Frames are JSON whose `post` / `reaction` fields are JSON strings again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PIN_EMOJI = "pushpin"


@dataclass(frozen=True)
class Hello:
    connection_id: str


@dataclass(frozen=True)
class AuthReply:
    ok: bool


@dataclass(frozen=True)
class Posted:
    post_id: str
    channel_id: str
    user_id: str
    text: str
    created_at: datetime
    kind: str  # "" for a user's post, "system_..." for join/leave/header notices
    # Posted by an integration: Mattermost posts a slash command's in-channel answer (ours
    # included) under the invoking user's id with props.from_webhook "true".
    from_webhook: bool = False


@dataclass(frozen=True)
class Edited:
    post_id: str
    channel_id: str
    user_id: str
    text: str


@dataclass(frozen=True)
class Deleted:
    post_id: str
    channel_id: str


@dataclass(frozen=True)
class Reacted:
    post_id: str
    channel_id: str
    user_id: str
    emoji: str


Event = Hello | AuthReply | Posted | Edited | Deleted | Reacted


def _inner(data: Mapping[str, Any], field: str) -> dict[str, Any]:
    # Mattermost encodes the post (or reaction) as a JSON string inside the event's JSON.
    value = data.get(field)
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _millis(value: object) -> datetime:
    return datetime.fromtimestamp(int(value or 0) / 1000, UTC)  # type: ignore[call-overload]


def parse_event(raw: str | bytes) -> tuple[int | None, Event | None]:
    """(seq, event) for one websocket frame; event None for kinds we do not follow."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None, None
    if not isinstance(message, dict):
        return None, None
    if "seq_reply" in message:
        return None, AuthReply(ok=message.get("status") == "OK")
    seq = message.get("seq")
    seq = seq if isinstance(seq, int) else None
    data = message.get("data") or {}
    broadcast = message.get("broadcast") or {}
    try:
        return seq, _event(str(message.get("event", "")), data, broadcast)
    except (ValueError, TypeError):
        return seq, None


def _event(kind: str, data: Mapping[str, Any], broadcast: Mapping[str, Any]) -> Event | None:
    if kind == "hello":
        return Hello(str(data.get("connection_id", "")))
    if kind in ("posted", "post_edited", "post_deleted"):
        post = _inner(data, "post")
        post_id = str(post.get("id", ""))
        channel_id = str(post.get("channel_id") or broadcast.get("channel_id") or "")
        if not post_id or not channel_id:
            return None
        if kind == "post_deleted":
            return Deleted(post_id, channel_id)
        user_id = str(post.get("user_id", ""))
        text = str(post.get("message", ""))
        if kind == "post_edited":
            return Edited(post_id, channel_id, user_id, text)
        props = post.get("props")
        return Posted(
            post_id,
            channel_id,
            user_id,
            text,
            _millis(post.get("create_at")),
            str(post.get("type", "")),
            isinstance(props, dict) and str(props.get("from_webhook", "")) == "true",
        )
    if kind == "reaction_added":
        reaction = _inner(data, "reaction")
        return Reacted(
            str(reaction.get("post_id", "")),
            str(broadcast.get("channel_id", "")),
            str(reaction.get("user_id", "")),
            str(reaction.get("emoji_name", "")),
        )
    return None
