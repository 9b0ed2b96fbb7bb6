"""Mattermost HTTP payloads <-> core, as pure functions (no I/O, no clock).

Shapes follow Mattermost's server model (model/integration_action.go, model/command_response.go):
slash commands arrive as form posts, buttons and dialogs as JSON. Websocket frames are
translated in events.py.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core import messages
from bot.core.commands import Declare, UsageError, parse_severity
from bot.core.model import Incident, Severity, Task, TaskState
from bot.core.router import Reply
from bot.core.views import TASK_MARK

PLATFORM = "mattermost"
MAX_CHANNEL_NAME = 64  # model.ChannelNameMaxLength: the URL name
MAX_DISPLAY_NAME = 64  # model.ChannelDisplayNameMaxRunes
MAX_POST = 16383  # model.PostMessageMaxRunesV2
# A post's props (the checklist's attachments) may hold at most model.PostPropsMaxUserRunes
# (760,000) runes as JSON: beyond it the server refuses the post. Far inside that:
MAX_CHECKLIST_ATTACHMENTS = 100
MAX_TASK_TEXT = 2000
ELLIPSIS = "…"
_TRAILING_NUMBER = re.compile(r"-\d+$")


def source_key(post_id: str) -> str:
    """The timeline's idempotency key for a Mattermost post."""
    return f"{PLATFORM}:{post_id}"


def channel_names(name: str) -> tuple[str, str]:
    """(URL name, display name) for a core channel name, both within Mattermost's 64.

    The core adds `-N` after a collision, so a cut keeps that suffix: otherwise every retry
    would be shortened to the same taken name.
    """
    display = name[:MAX_DISPLAY_NAME]
    if len(name) <= MAX_CHANNEL_NAME:
        return name, display
    match = _TRAILING_NUMBER.search(name)
    suffix = match.group(0) if match else ""
    head = name[: MAX_CHANNEL_NAME - len(suffix)].rstrip("-")
    return head + suffix, display


# -- slash command ------------------------------------------------------------------------


@dataclass(frozen=True)
class SlashCommand:
    token: str
    text: str
    user_id: str
    user_name: str
    channel_id: str
    team_id: str
    trigger_id: str


def slash_command(form: Mapping[str, str]) -> SlashCommand:
    return SlashCommand(
        token=form.get("token", ""),
        text=form.get("text", ""),
        user_id=form.get("user_id", ""),
        user_name=form.get("user_name", ""),
        channel_id=form.get("channel_id", ""),
        team_id=form.get("team_id", ""),
        trigger_id=form.get("trigger_id", ""),
    )


def command_response(reply: Reply) -> dict[str, Any]:
    """The slash command's HTTP answer. Mattermost posts nothing for an empty text; a text
    longer than one post (a postmortem) continues in `extra_responses`."""
    kind = "in_channel" if reply.public and reply.text else "ephemeral"
    first, *rest = split_message(reply.text)
    answer: dict[str, Any] = {"response_type": kind, "text": first}
    if rest:
        answer["extra_responses"] = [{"response_type": kind, "text": part} for part in rest]
    return answer


def split_message(text: str, limit: int = MAX_POST) -> list[str]:
    """Text cut into posts of at most `limit` characters, at line ends where possible."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*parts, text]


def tokens_match(given: str, expected: str | None) -> bool:
    # Constant time, so response timing does not reveal how much of a guess was right.
    if not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def sign(key: bytes, *parts: object) -> str:
    """A signature over parts, to recognise button contexts and dialog states as ours."""
    message = "\x1f".join(str(part) for part in parts).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


# -- checklist buttons --------------------------------------------------------------------

_BUTTONS = {
    TaskState.OPEN: (("done", "Done"), ("skip", "Skip")),
    TaskState.DONE: (("undo", "Undo"),),
    TaskState.SKIPPED: (("undo", "Undo"),),
}


def checklist_text(incident: Incident, tasks: list[Task]) -> str:
    if not tasks:
        return f"{incident.ref} has no tasks. Add one with /incident task add TEXT."
    done = sum(task.state is not TaskState.OPEN for task in tasks)
    text = f"Checklist of {incident.ref}: {done}/{len(tasks)} done or skipped."
    if len(tasks) > MAX_CHECKLIST_ATTACHMENTS:
        text += " " + messages.checklist_truncated(len(tasks) - MAX_CHECKLIST_ATTACHMENTS)
    return text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def checklist_props(
    incident: Incident, tasks: list[Task], url: str | None, key: bytes
) -> dict[str, Any]:
    """One attachment per task; buttons only when Mattermost can call us back (url)."""
    attachments = []
    for task in tasks[:MAX_CHECKLIST_ATTACHMENTS]:
        who = f" (@{task.assignee})" if task.assignee else ""
        line = f"{task.position}. {TASK_MARK[task.state]} {task.title}{who}"
        attachment: dict[str, Any] = {
            "text": _clip(line, MAX_TASK_TEXT),
            "color": "#2eb886" if task.state is not TaskState.OPEN else "#cccccc",
        }
        if url:
            attachment["actions"] = [
                {
                    # Action ids end up in URL paths: letters and digits only.
                    "id": f"{action}{task.position}",
                    "type": "button",
                    "name": label,
                    "integration": {
                        "url": url,
                        "context": {
                            "incident": incident.number,
                            "position": task.position,
                            "action": action,
                            "sig": sign(key, incident.number, task.position, action),
                        },
                    },
                }
                for action, label in _BUTTONS[task.state]
            ]
        attachments.append(attachment)
    return {"attachments": attachments}


def offer_props(offer_id: int | None, url: str | None, key: bytes) -> dict[str, Any]:
    """An alert offer's "Declare incident" button (none once declared, or without a url)."""
    if offer_id is None or not url:
        return {"attachments": []}
    context = {"offer": offer_id, "sig": sign(key, "offer", offer_id)}
    button = {
        "id": f"declare{offer_id}",
        "type": "button",
        "name": "Declare incident",
        "style": "danger",
        "integration": {"url": url, "context": context},
    }
    return {"attachments": [{"actions": [button]}]}


def offer_press(body: Mapping[str, Any], key: bytes) -> int | None:
    """The alert offer a signed "Declare incident" press is for; None if it is not one."""
    context = body.get("context") or {}
    try:
        offer, signature = int(context["offer"]), str(context["sig"])
    except (KeyError, TypeError, ValueError):
        return None
    return offer if hmac.compare_digest(signature, sign(key, "offer", offer)) else None


@dataclass(frozen=True)
class ButtonPress:
    user_id: str
    user_name: str
    channel_id: str
    post_id: str
    incident: int
    position: int
    action: str


def button_press(body: Mapping[str, Any], key: bytes) -> ButtonPress | None:
    """A checklist button press, or None if the context is not one we signed."""
    context = body.get("context") or {}
    try:
        incident = int(context["incident"])
        position = int(context["position"])
        action = str(context["action"])
        signature = str(context["sig"])
    except (KeyError, TypeError, ValueError):
        return None
    if action not in ("done", "skip", "undo"):
        return None
    if not hmac.compare_digest(signature, sign(key, incident, position, action)):
        return None
    return ButtonPress(
        user_id=str(body.get("user_id", "")),
        user_name=str(body.get("user_name", "")),
        channel_id=str(body.get("channel_id", "")),
        post_id=str(body.get("post_id", "")),
        incident=incident,
        position=position,
        action=action,
    )


def action_response(ephemeral: str = "", update: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """PostActionIntegrationResponse: an optional new version of the post, a private note."""
    answer: dict[str, Any] = {"ephemeral_text": ephemeral}
    if update is not None:
        answer["update"] = dict(update)
    return answer


# -- declare dialog -----------------------------------------------------------------------

DECLARE_CALLBACK = "declare"


def dialog_state(key: bytes, nonce: str) -> str:
    return f"{nonce}.{sign(key, 'dialog', nonce)}"


def dialog_nonce(key: bytes, state: str) -> str | None:
    """The nonce of a dialog we opened, or None for a state we did not sign."""
    nonce, _, signature = state.partition(".")
    if not nonce or not hmac.compare_digest(signature, sign(key, "dialog", nonce)):
        return None
    return nonce


def declare_dialog(url: str, state: str) -> dict[str, Any]:
    severities = [{"text": f"{s} ({s.label})", "value": s.value} for s in Severity]
    return {
        "callback_id": DECLARE_CALLBACK,
        "title": "Declare an incident",
        "submit_label": "Declare",
        "state": state,
        "notify_on_cancel": False,
        "elements": [
            {
                "display_name": "Title",
                "name": "title",
                "type": "text",
                "placeholder": "What is broken, as users see it",
                "max_length": 150,
            },
            {
                "display_name": "Severity",
                "name": "severity",
                "type": "select",
                "default": Severity.SEV3.value,
                "options": severities,
            },
            {
                "display_name": "Service",
                "name": "service",
                "type": "text",
                "optional": True,
                "help_text": "The affected service, as named in the service catalog.",
            },
            {
                "display_name": "Private",
                "name": "private",
                "type": "bool",
                "optional": True,
                "placeholder": "Private channel, no announcement",
            },
        ],
    }


@dataclass(frozen=True)
class DialogSubmission:
    user_id: str
    channel_id: str
    callback_id: str
    state: str
    cancelled: bool
    values: Mapping[str, Any]


def dialog_submission(body: Mapping[str, Any]) -> DialogSubmission:
    values = body.get("submission")
    return DialogSubmission(
        user_id=str(body.get("user_id", "")),
        channel_id=str(body.get("channel_id", "")),
        callback_id=str(body.get("callback_id", "")),
        state=str(body.get("state", "")),
        cancelled=bool(body.get("cancelled", False)),
        values=values if isinstance(values, Mapping) else {},  # hostile shapes: no values
    )


class FormError(UsageError):
    """A form value to fix; Mattermost shows the message under that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def declare_from_dialog(values: Mapping[str, Any]) -> Declare:
    """The form's values as a Declare; FormError names the field to fix."""
    title = str(values.get("title") or "").strip()
    if not title:
        raise FormError("title", messages.missing("declare", "a title"))
    try:
        severity = parse_severity(str(values.get("severity") or Severity.SEV3.value))
    except UsageError as error:
        raise FormError("severity", str(error)) from None
    service = str(values.get("service") or "").strip() or None
    # A bool element submits true/false; older servers send the strings.
    private = values.get("private") in (True, "true", "True", "1")
    return Declare(title, severity, service, private)


def dialog_errors(error: FormError) -> dict[str, Any]:
    """SubmitDialogResponse: Mattermost keeps the form open and shows text under the field."""
    return {"errors": {error.field: str(error)}}


# -- pages: a direct message with an Acknowledge button ---------------------------------------

PAGE_ACK = "page_ack"


def page_props(incident: Incident, url: str | None, key: bytes, user: str) -> dict[str, Any]:
    """The Acknowledge button; its signed context binds the incident to the paged user."""
    if not url:
        return {}  # no WARROOM_PUBLIC_URL: the message says to type /incident ack
    context = {
        "kind": PAGE_ACK,
        "incident": incident.number,
        "user": user,
        "sig": sign(key, PAGE_ACK, incident.number, user),
    }
    action = {"id": "ack", "type": "button", "name": "Acknowledge", "style": "primary",
              "integration": {"url": url, "context": context}}  # fmt: skip
    return {"attachments": [{"text": "", "actions": [action]}]}


def page_ack_press(body: Mapping[str, Any], key: bytes) -> tuple[int, str] | None:
    """The incident number and paged user of a page's Acknowledge press we signed, else
    None."""
    context = body.get("context") or {}
    if not isinstance(context, Mapping) or context.get("kind") != PAGE_ACK:
        return None
    try:
        number = int(context["incident"])
        user = str(context["user"])
        signature = str(context["sig"])
    except (KeyError, TypeError, ValueError):
        return None
    if not hmac.compare_digest(signature, sign(key, PAGE_ACK, number, user)):
        return None
    return number, user
