"""Text from users, made safe to store and to show again, before anything records it.

Control characters (NUL, ESC, BEL, ...) and lone surrogates are removed: Postgres refuses NUL
in text and SQLite keeps it, so without this one database stores what the other rejects, and
ESC sequences would reach terminals and exported Markdown. Each kind of text has a length
limit, reported in one line; a task title's keeps every checklist line well inside a Block
Kit section (3,000 characters) even after escaping.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.core import commands as c
from bot.core import messages
from bot.core.commands import UsageError

# Characters of what people typed, per kind of text.
LIMITS = {
    "title": 200,
    "status update": 3000,
    "note": 3000,
    "task title": 200,
    "follow-up": 1000,
    "resolution note": 3000,
    "description": 3000,
    "name": 80,  # service, playbook, label, user
}
MESSAGE_LIMIT = 40_000  # a channel message on the timeline (Slack's own limit)

# C0 controls but tab and newline, DEL, C1 controls, and lone surrogates (which cannot be
# encoded as UTF-8 at all).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_AND_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def clean(text: str, *, multiline: bool = True) -> str:
    """Remove control characters; CR LF becomes LF; in a one-line text, line breaks and
    tabs become spaces."""
    text = text.replace("\r\n", "\n")
    if multiline:
        return _CONTROL.sub("", text.replace("\r", "\n"))
    return _CONTROL_AND_BREAKS.sub(lambda m: " " if m.group() in "\n\r\t" else "", text).strip()


def checked(what: str, text: str, *, multiline: bool = True) -> str:
    cleaned = clean(text, multiline=multiline).strip()
    limit = LIMITS[what]
    if len(cleaned) > limit:
        raise UsageError(messages.too_long(what, limit, len(cleaned)))
    if not cleaned and text.strip():
        raise UsageError(messages.empty_after_cleaning(what))
    return cleaned


def _optional(what: str, text: str | None, *, multiline: bool = True) -> str | None:
    if text is None:
        return None
    return checked(what, text, multiline=multiline) or None


def clean_command(command: c.Command) -> c.Command:
    """The command with its free text cleaned and checked against the limits."""
    match command:
        case c.Declare():
            return replace(
                command,
                title=checked("title", command.title, multiline=False),
                service=_optional("name", command.service, multiline=False),
                playbook=_optional("name", command.playbook, multiline=False),
                commander=_optional("name", command.commander, multiline=False),
                labels=tuple(checked("name", label, multiline=False) for label in command.labels),
                description=_optional("description", command.description),
            )
        case c.PostStatus(text=text):
            return replace(command, text=checked("status update", text))
        case c.AddNote(text=text):
            return replace(command, text=checked("note", text))
        case c.AddTask(title=title):
            return replace(command, title=checked("task title", title, multiline=False))
        case c.AddFollowUp(text=text):
            return replace(command, text=checked("follow-up", text))
        case c.Resolve(text=text):
            return replace(command, text=_optional("resolution note", text))
        case c.Page(target=target):
            return replace(command, target=checked("name", target, multiline=False))
    return command


def clean_message(text: str) -> str:
    """A channel message for the timeline: cleaned, and cut (not refused: it was said)."""
    return clean(text)[:MESSAGE_LIMIT]
