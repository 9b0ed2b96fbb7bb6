"""Slack payloads -> core commands and events, and core -> Block Kit. Pure functions only:
no I/O, no Bolt objects, so every shape here is tested against payloads from Slack's docs."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.chat.slack.incoming import plain_text
from bot.chat.slack.text import escape
from bot.core import messages
from bot.core.commands import ChangeTask, Declare
from bot.core.model import Incident, Severity, Task, TaskState
from bot.core.service import Invocation
from bot.core.views import TASK_MARK, task_lines

PLATFORM = "slack"
DECLARE_CALLBACK = "incident_declare"
TASK_ACTION = re.compile(r"^task_(done|skip|undo)$")
ALERT_ACTION = "alert_declare"  # an alert offer's "Declare incident" button (bot/core/alerts)
PAGE_ACK_ACTION = "page_ack"
HIGHLIGHT_REACTION = "pushpin"
# Slack allows 50 blocks per message; keep room for the header and the overflow line.
MAX_CHECKLIST_BLOCKS = 48
# A section's text: one character more and Slack refuses the whole message (invalid_blocks).
MAX_SECTION_TEXT = 3000
# A message's `text`: Slack refuses longer ones (msg_too_long).
MAX_MESSAGE_TEXT = 40_000
# The checklist's fallback text (notifications, clients without blocks) need not be long.
MAX_FALLBACK_TEXT = 3000
ELLIPSIS = "…"

# A user id the core wrote as "@U123" or a bare id ("... by U0123ABCD"). Slack ids are upper
# case with at least one digit, which keeps ordinary capitalised words out.
_OUTGOING_USER = re.compile(r"(?<![<@\w])@?([UW](?=[A-Z0-9]*\d)[A-Z0-9]{8,11})\b")
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")


def source_key(channel: str, ts: str) -> str:
    """The timeline idempotency key of a Slack message: a channel and ts name it uniquely."""
    return f"slack:{channel}:{ts}"


def ts_to_datetime(ts: str) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


def is_user_id(text: str) -> bool:
    return bool(_USER_ID.match(text))


# -- incoming: slash commands, forms, buttons ------------------------------------------------


def command_text(text: str) -> str:
    """The slash command's text as the core grammar expects it, Slack's escaping undone:
    `<@U1|alice>` -> `@U1`, `<#C1|ops>` -> `#ops`, `&amp;` -> `&` (incoming.py)."""
    return plain_text(text or "", mentions="id").strip()


def invocation(body: Mapping[str, Any]) -> Invocation:
    """Who ran a slash command, and where (form fields user_id and channel_id)."""
    return Invocation(user=body["user_id"], platform=PLATFORM, channel_id=body.get("channel_id"))


def interaction_invocation(body: Mapping[str, Any], channel_id: str | None) -> Invocation:
    """Who clicked or submitted (interaction payloads nest the user as an object)."""
    return Invocation(user=body["user"]["id"], platform=PLATFORM, channel_id=channel_id)


def declare_modal(channel_id: str | None) -> dict[str, Any]:
    """The declare form; private_metadata carries the channel the command was typed in."""
    severities = [_option(f"{s.value} ({s.label})", s.value) for s in Severity]
    return {
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "title": _plain("Declare an incident"),
        "submit": _plain("Declare"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"channel_id": channel_id}),
        "blocks": [
            _input("title", "Title", {"type": "plain_text_input", "max_length": 150}),
            _input(
                "severity",
                "Severity",
                {"type": "static_select", "options": severities, "initial_option": severities[2]},
            ),
            _input("service", "Service", {"type": "plain_text_input"}, optional=True),
            _input(
                "private",
                "Visibility",
                {"type": "checkboxes", "options": [_option("Private channel", "private")]},
                optional=True,
            ),
            _input(
                "description",
                "Description",
                {"type": "plain_text_input", "multiline": True},
                optional=True,
            ),
        ],
    }


@dataclass(frozen=True)
class DeclareForm:
    command: Declare
    channel_id: str | None


def form_errors(view: Mapping[str, Any]) -> dict[str, str]:
    """Errors to show in the form (block_id -> text); empty when it can be submitted."""
    if not (_value(view, "title") or "").strip():
        return {"title": messages.FORM_TITLE_MISSING}
    return {}


def declare_from_view(view: Mapping[str, Any]) -> DeclareForm:
    """A submitted declare form -> the core Declare (call form_errors first)."""
    values = view["state"]["values"]
    severity = values.get("severity", {}).get("severity", {}).get("selected_option") or {}
    private = values.get("private", {}).get("private", {}).get("selected_options") or []
    service = (_value(view, "service") or "").strip() or None
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        metadata = {}
    return DeclareForm(
        Declare(
            title=(_value(view, "title") or "").strip(),
            severity=Severity(severity["value"]) if severity.get("value") else None,
            service=service.replace(" ", "-") if service else None,
            private=any(option.get("value") == "private" for option in private),
            description=(_value(view, "description") or "").strip() or None,
        ),
        metadata.get("channel_id"),
    )


def task_change(action: Mapping[str, Any]) -> ChangeTask | None:
    """A checklist button -> ChangeTask; None for an action that is not ours."""
    match = TASK_ACTION.match(action.get("action_id", ""))
    if not match or not str(action.get("value", "")).isdigit():
        return None
    return ChangeTask(match.group(1), str(action["value"]))


def action_location(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(channel id, message ts) of the message whose button was clicked."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    return channel, ts


# -- incoming: channel events for the timeline ------------------------------------------------


@dataclass(frozen=True)
class Posted:
    channel: str
    user: str
    text: str
    ts: str


@dataclass(frozen=True)
class Edited:
    key: str
    text: str


@dataclass(frozen=True)
class Deleted:
    key: str


@dataclass(frozen=True)
class Highlighted:
    key: str
    by: str


TimelineChange = Posted | Edited | Deleted | Highlighted


def channel_of(change: TimelineChange) -> str:
    """The channel a timeline change happened in (keys are slack:CHANNEL:TS)."""
    return change.channel if isinstance(change, Posted) else change.key.split(":")[1]


def timeline_change(event: Mapping[str, Any]) -> TimelineChange | None:
    """What a Slack event means for an incident timeline; None for events we do not record
    (bots, joins and other subtypes, reactions other than :pushpin:)."""
    kind = event.get("type")
    if kind == "message":
        return _message_change(event)
    if kind == "reaction_added":
        item = event.get("item") or {}
        if event.get("reaction") != HIGHLIGHT_REACTION or item.get("type") != "message":
            return None
        return Highlighted(source_key(item["channel"], item["ts"]), event["user"])
    if kind == "pin_added":
        item = event.get("item") or {}
        message = item.get("message") or {}
        channel = item.get("channel") or event.get("channel_id")
        if item.get("type") != "message" or not channel or "ts" not in message:
            return None
        return Highlighted(source_key(channel, message["ts"]), event["user"])
    return None


def _message_change(event: Mapping[str, Any]) -> TimelineChange | None:
    subtype = event.get("subtype")
    channel = event.get("channel")
    if not channel:
        return None
    if subtype == "message_changed":
        message = event.get("message") or {}
        # Slack does not always repeat the ts in `message` (bolt-python's own fixtures lack
        # it); the edited message is the same one as `previous_message`.
        ts = message.get("ts") or (event.get("previous_message") or {}).get("ts")
        if message.get("bot_id") or not ts:
            return None
        return Edited(source_key(channel, ts), plain_text(message.get("text", "")))
    if subtype == "message_deleted":
        return Deleted(source_key(channel, event["deleted_ts"]))
    # Plain messages, files and thread broadcasts are what people said; joins, topic changes
    # and bot posts (ours included) are not.
    if subtype not in (None, "file_share", "thread_broadcast") or event.get("bot_id"):
        return None
    if not event.get("user") or "ts" not in event:
        return None
    return Posted(channel, event["user"], plain_text(event.get("text", "")), event["ts"])


# -- outgoing ----------------------------------------------------------------------------------


def mention_users(text: str) -> str:
    """Core text names users as @U123 or U123; Slack shows <@U123> as the person's name."""
    return _OUTGOING_USER.sub(r"<@\1>", text)


def outgoing(text: str) -> str:
    """Core text as Slack message text: escaped so that nothing people wrote pings a crowd
    (bot/chat/slack/text.py), then @U123 made a mention of that user."""
    return mention_users(escape(text))


def checklist_blocks(incident: Incident, tasks: list[Task]) -> list[dict[str, Any]]:
    """The checklist as Block Kit: a line per task, Done/Skip on open ones, Undo on the rest."""
    done = sum(task.state is not TaskState.OPEN for task in tasks)
    blocks: list[dict[str, Any]] = [
        _section(f"*Checklist for {incident.ref}* ({done}/{len(tasks)} done or skipped)")
    ]
    for index, task in enumerate(tasks):
        pair = 2 if task.state is TaskState.OPEN else 1
        if len(blocks) + pair > MAX_CHECKLIST_BLOCKS:
            blocks.append(_section(messages.checklist_truncated(len(tasks) - index)))
            break
        who = f" (<@{task.assignee}>)" if task.assignee and is_user_id(task.assignee) else ""
        if task.assignee and not who:
            who = f" (@{task.assignee})"
        prefix = f"{TASK_MARK[task.state]} {task.position}. "
        # One long title must not break the whole checklist (Slack refuses it all); the room
        # leaves two characters for the ~strikethrough~ of a finished task.
        room = MAX_SECTION_TEXT - 2 - len(prefix) - len(who)
        line = clip(prefix + fit_escaped(task.title, room) + who, MAX_SECTION_TEXT - 2)
        if task.state is TaskState.OPEN:
            blocks.append(_section(line, block_id=f"task-{task.position}"))
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"task-{task.position}-actions",
                    "elements": [
                        _button("Done", "task_done", task.position, style="primary"),
                        _button("Skip", "task_skip", task.position),
                    ],
                }
            )
        else:
            section = _section(f"~{line}~", block_id=f"task-{task.position}")
            section["accessory"] = _button("Undo", "task_undo", task.position)
            blocks.append(section)
    return blocks


def checklist_text(incident: Incident, tasks: list[Task]) -> str:
    """Fallback text for notifications and clients that cannot show blocks."""
    return clip(outgoing(task_lines(incident, tasks)), MAX_FALLBACK_TEXT)


def clip(text: str, limit: int) -> str:
    """Text cut to at most `limit` characters, with an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def fit_escaped(text: str, room: int) -> str:
    """`text` escaped for Slack in at most `room` characters: cut before escaping (with an
    ellipsis), so an entity such as `&amp;` is never cut in half."""
    shown = escape(text)
    if len(shown) <= room:
        return shown
    keep = max(room - len(ELLIPSIS), 0)
    raw = text[:keep]
    while len(escape(raw)) > keep:
        raw = raw[: len(raw) - (len(escape(raw)) - keep)]
    return escape(raw) + ELLIPSIS


def split_message(text: str, limit: int = MAX_MESSAGE_TEXT) -> list[str]:
    """Text cut into messages Slack accepts, at line ends where possible."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*parts, text]


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text), "value": value}


def _input(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool = False
) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": _plain(label),
        "element": {**element, "action_id": block_id},
    }


def offer_blocks(text: str, offer_id: int | None) -> list[dict[str, Any]]:
    """An alert offer: its text, and a "Declare incident" button while it can be declared."""
    blocks = [_section(outgoing(text)[:3000])]
    if offer_id is not None:
        button = _button("Declare incident", ALERT_ACTION, offer_id, style="danger")
        blocks.append({"type": "actions", "block_id": f"alert-{offer_id}", "elements": [button]})
    return blocks


def alert_offer(action: Mapping[str, Any]) -> int | None:
    """The offer a "Declare incident" click is for; None for an action that is not ours."""
    value = str(action.get("value", ""))
    return int(value) if action.get("action_id") == ALERT_ACTION and value.isdigit() else None


def _section(text: str, *, block_id: str | None = None) -> dict[str, Any]:
    text = clip(text, MAX_SECTION_TEXT)
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def _button(text: str, action_id: str, position: int, *, style: str | None = None) -> dict:
    button: dict[str, Any] = {
        "type": "button",
        "text": _plain(text),
        "action_id": action_id,
        "value": str(position),
    }
    if style:
        button["style"] = style
    return button


def _value(view: Mapping[str, Any], block_id: str) -> str | None:
    return view["state"]["values"].get(block_id, {}).get(block_id, {}).get("value")


# -- pages: a direct message with an Acknowledge button -----------------------------------------


def page_blocks(incident: Incident, text: str, user: str) -> list[dict[str, Any]]:
    """The page DM; the button's value binds the incident to the paged user ("1:U0123ABCD")."""
    return [
        _section(outgoing(text)[:3000]),
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": PAGE_ACK_ACTION,
                    "text": _plain("Acknowledge"),
                    "style": "primary",
                    "value": f"{incident.number}:{user}",
                }
            ],
        },
    ]


def page_ack_press(action: Mapping[str, Any]) -> tuple[int, str] | None:
    """The incident number and paged user an Acknowledge button names, else None (a button
    from before the value named the user is not recognised: it could stop anyone's page)."""
    number, _, user = str(action.get("value", "")).partition(":")
    if action.get("action_id") != PAGE_ACK_ACTION or not number.isdigit() or not user:
        return None
    return int(number), user
