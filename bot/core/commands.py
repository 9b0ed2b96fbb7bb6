"""`/incident <verb> args` text -> a typed Command, or a UsageError that says what to type."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core import messages
from bot.core.model import INCIDENT_REF, Severity, State


class UsageError(Exception):
    """Bad input from a user; the message is shown to them as is."""


@dataclass(frozen=True)
class Declare:
    title: str
    severity: Severity | None = None
    service: str | None = None
    private: bool = False
    playbook: str | None = None
    commander: str | None = None
    labels: tuple[str, ...] = ()  # label:NAME, used to choose a playbook
    description: str | None = None  # from a declare form; the command line has none


@dataclass(frozen=True)
class OpenDeclareForm:
    pass


@dataclass(frozen=True)
class ListIncidents:
    include_resolved: bool = False


@dataclass(frozen=True)
class Show:
    number: int


@dataclass(frozen=True)
class PostStatus:
    text: str


@dataclass(frozen=True)
class SetSeverity:
    severity: Severity


@dataclass(frozen=True)
class SetState:
    state: State


@dataclass(frozen=True)
class AssignRole:
    role: str
    user: str


@dataclass(frozen=True)
class AddNote:
    text: str


@dataclass(frozen=True)
class Page:
    target: str


@dataclass(frozen=True)
class Acknowledge:
    """`/incident ack` in the channel, or a page's Acknowledge button (which names the
    incident and the person paged: only they may press it)."""

    number: int | None = None
    paged: str | None = None


@dataclass(frozen=True)
class ShowOnCall:
    target: str | None = None


@dataclass(frozen=True)
class ListTasks:
    number: int | None = None  # another incident's (INC-N); None: this channel's


@dataclass(frozen=True)
class ChangeTask:
    action: str  # done | skip | undo
    position_text: str


@dataclass(frozen=True)
class AddTask:
    title: str


@dataclass(frozen=True)
class ShowTimeline:
    last: int | None = None
    number: int | None = None  # another incident's (INC-N); None: this channel's


@dataclass(frozen=True)
class Resolve:
    text: str | None = None


@dataclass(frozen=True)
class Postmortem:
    number: int | None = None  # another incident's (INC-N); None: this channel's


@dataclass(frozen=True)
class AddFollowUp:
    text: str


@dataclass(frozen=True)
class Help:
    pass


Command = (
    Declare
    | OpenDeclareForm
    | ListIncidents
    | Show
    | PostStatus
    | SetSeverity
    | SetState
    | AssignRole
    | AddNote
    | Page
    | Acknowledge
    | ShowOnCall
    | ListTasks
    | ChangeTask
    | AddTask
    | ShowTimeline
    | Resolve
    | Postmortem
    | AddFollowUp
    | Help
)
# Commands that only read: they change nothing, so several may run at once (after the changes
# typed before them), where commands that change an incident run one at a time per channel.
READ_ONLY = (ListIncidents, Show, ListTasks, ShowTimeline, Help)


_SEV = re.compile(r"^sev(\d+)$", re.IGNORECASE)
_USER = re.compile(r"^@?([\w.\-]+)$")
_ROLE = re.compile(r"^[a-z][a-z0-9_-]*$")


def parse_severity(text: str) -> Severity:
    try:
        return Severity(text.lower())
    except ValueError:
        raise UsageError(messages.bad_severity(text)) from None


def parse_state(text: str) -> State:
    try:
        return State(text.lower())
    except ValueError:
        raise UsageError(messages.bad_state(text)) from None


def parse_incident_number(text: str) -> int:
    match = INCIDENT_REF.match(text.strip())
    if not match:
        raise UsageError(messages.bad_incident_ref(text))
    return int(match.group(1))


def parse_user(text: str) -> str:
    match = _USER.match(text)
    if not match:
        raise UsageError(messages.bad_user(text))
    return match.group(1)


def parse(text: str) -> Command:
    """Parse what follows `/incident`. Whitespace inside free text is kept as typed."""
    text = text.strip()
    if not text:
        return Help()
    verb, _, rest = text.partition(" ")
    verb = verb.lower()
    rest = rest.strip()
    parser = _PARSERS.get(verb)
    if parser is None:
        raise UsageError(messages.unknown_verb(verb))
    return parser(rest)


def _declare(rest: str) -> Command:
    if not rest:
        return OpenDeclareForm()
    severity: Severity | None = None
    service: str | None = None
    playbook: str | None = None
    commander: str | None = None
    labels: list[str] = []
    private = False
    words = rest.split()
    # Options come first, in any order; the first word that is not an option starts the title.
    consumed = 0
    for word in words:
        lower = word.lower()
        if _SEV.match(lower):
            if severity is not None:
                raise UsageError(messages.two_severities(severity.value, lower))
            severity = parse_severity(lower)
        elif lower.startswith("service:"):
            service = word.partition(":")[2]
            if not service:
                raise UsageError(messages.missing("declare", "service name after service:"))
        elif lower.startswith("playbook:"):
            playbook = word.partition(":")[2]
            if not playbook:
                raise UsageError(messages.missing("declare", "playbook name after playbook:"))
        elif lower.startswith("label:") and word.partition(":")[2]:
            labels.append(word.partition(":")[2].lower())
        elif lower.startswith("commander:"):
            commander = parse_user(word.partition(":")[2])
        elif lower == "--private":
            private = True
        else:
            break
        consumed += 1
    title = _rest_after(rest, consumed)
    if not title:
        raise UsageError(messages.missing("declare", "a title"))
    return Declare(title, severity, service, private, playbook, commander, tuple(labels))


def _rest_after(text: str, words: int) -> str:
    """The text after the first `words` whitespace-separated words, inner spacing preserved."""
    parts = text.split(None, words)
    return parts[words].strip() if len(parts) > words else ""


def _list(rest: str) -> Command:
    if rest and rest.lower() not in ("--all", "all"):
        raise UsageError(messages.usage("list"))
    return ListIncidents(include_resolved=bool(rest))


def _show(rest: str) -> Command:
    if not rest:
        raise UsageError(messages.missing("show", "the incident number"))
    return Show(parse_incident_number(rest.split()[0]))


def _text(verb: str, cls: type, what: str):  # type: ignore[no-untyped-def]
    def parse_text(rest: str) -> Command:
        if not rest:
            raise UsageError(messages.missing(verb, what))
        return cls(rest)

    return parse_text


def _sev(rest: str) -> Command:
    if not rest:
        raise UsageError(messages.missing("sev", "the severity"))
    return SetSeverity(parse_severity(rest.split()[0]))


def _state(rest: str) -> Command:
    if not rest:
        raise UsageError(messages.missing("state", "the state"))
    return SetState(parse_state(rest.split()[0]))


def _role(rest: str) -> Command:
    words = rest.split()
    if not words:
        raise UsageError(messages.missing("role", "a role and a user"))
    if len(words) == 1:
        raise UsageError(messages.missing("role", f"the user to make {words[0].lower()}"))
    if len(words) > 2:
        raise UsageError(messages.usage("role"))
    role = words[0].lower()
    if not _ROLE.match(role):
        raise UsageError(messages.usage("role"))
    return AssignRole(role, parse_user(words[1]))


_PREFIXED_REF = re.compile(r"^inc-?\d{1,9}$", re.IGNORECASE)


def _tasks(rest: str) -> Command:
    words = rest.split()
    if not words:
        return ListTasks()
    if len(words) > 1 or not INCIDENT_REF.match(words[0]):
        raise UsageError(messages.usage("tasks"))
    return ListTasks(parse_incident_number(words[0]))


def _task(rest: str) -> Command:
    action, _, arg = rest.partition(" ")
    action = action.lower()
    arg = arg.strip()
    if action == "add":
        if not arg:
            raise UsageError(messages.missing("task", "the task's text"))
        return AddTask(arg)
    if action in ("done", "skip", "undo"):
        if not arg:
            raise UsageError(messages.missing("task", "the task number"))
        return ChangeTask(action, arg.split()[0])
    raise UsageError(messages.usage("task"))


def _timeline(rest: str) -> Command:
    words = rest.split()
    number = None
    if words and _PREFIXED_REF.match(words[0]):
        number = parse_incident_number(words.pop(0))
    if not words:
        return ShowTimeline(None, number)
    word = words[0]
    if not word.isdigit() or int(word) == 0:
        raise UsageError(messages.bad_timeline_count(word))
    return ShowTimeline(int(word), number)


def _postmortem(rest: str) -> Command:
    words = rest.split()
    if not words:
        return Postmortem()
    if len(words) > 1 or not INCIDENT_REF.match(words[0]):
        raise UsageError(messages.usage("postmortem"))
    return Postmortem(parse_incident_number(words[0]))


def _resolve(rest: str) -> Command:
    return Resolve(rest or None)


def _ack(rest: str) -> Command:
    if rest:
        raise UsageError(messages.usage("ack"))
    return Acknowledge()


_PARSERS = {
    "declare": _declare,
    "list": _list,
    "show": _show,
    "status": _text("status", PostStatus, "the update's text"),
    "sev": _sev,
    "severity": _sev,
    "state": _state,
    "role": _role,
    "note": _text("note", AddNote, "the note's text"),
    "page": _text("page", Page, "who to page"),
    "ack": _ack,
    "oncall": lambda rest: ShowOnCall(rest.split()[0] if rest else None),
    "tasks": _tasks,
    "task": _task,
    "timeline": _timeline,
    "resolve": _resolve,
    "postmortem": _postmortem,
    "followup": _text("followup", AddFollowUp, "the follow-up action's text"),
    "help": lambda rest: Help(),
}
