"""Every message a user sees when something they typed cannot be done, in one place.

Each says what to type instead, in one line where possible.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

HELP = """\
/incident declare [sev1..sev4] [service:NAME] [--private] TITLE    (no args: opens a form)
/incident list [--all]            /incident show INC-N
in an incident channel:
/incident status TEXT             post a status update (announced; resets the update reminder)
/incident sev sevN                /incident state investigating|identified|monitoring|resolved
/incident role ROLE @user         /incident note TEXT          /incident page TEAM|SERVICE|@user
/incident tasks                   /incident task done|skip|undo N   /incident task add TEXT
/incident timeline [N]            /incident resolve [TEXT]     /incident postmortem"""

USAGE = {
    "declare": "/incident declare [sev1..sev4] [service:NAME] [commander:@user] [--private] TITLE",
    "list": "/incident list [--all]",
    "show": "/incident show INC-N",
    "status": "/incident status TEXT",
    "sev": "/incident sev sev1|sev2|sev3|sev4",
    "state": "/incident state investigating|identified|monitoring|resolved",
    "role": "/incident role ROLE @user",
    "note": "/incident note TEXT",
    "page": "/incident page TEAM|SERVICE|@user",
    "tasks": "/incident tasks",
    "task": "/incident task done|skip|undo N  or  /incident task add TEXT",
    "timeline": "/incident timeline [N]",
    "resolve": "/incident resolve [TEXT]",
    "postmortem": "/incident postmortem",
    "help": "/incident help",
}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""


def usage(verb: str) -> str:
    return f"Usage: {USAGE[verb]}"


def unknown_verb(verb: str) -> str:
    if verb.startswith("sev"):
        return f"To change the severity, type /incident sev sev1..sev4 (got '{verb}')."
    return (
        f"Unknown command '{verb}'.{did_you_mean(verb, USAGE)} "
        "Type /incident help to see every command."
    )


def missing(verb: str, what: str) -> str:
    return f"Missing {what}. {usage(verb)}"


def bad_severity(text: str) -> str:
    return (
        f"Unknown severity '{text}': use sev1 (critical), sev2 (major), sev3 (minor) or sev4 (low)."
    )


def bad_state(text: str) -> str:
    return f"Unknown state '{text}'.{did_you_mean(text, STATES)} Use one of: {', '.join(STATES)}."


STATES = ("investigating", "identified", "monitoring", "resolved")


def bad_incident_ref(text: str) -> str:
    return f"'{text}' is not an incident number: write it as INC-42 or 42."


def no_such_incident(ref: str) -> str:
    return f"There is no incident {ref}. Type /incident list --all to see every incident."


def not_in_incident_channel(verb: str) -> str:
    return (
        f"/incident {verb} works inside an incident channel. Join the incident's channel "
        "(see /incident list) and run it there."
    )


def unknown_role(role: str, roles: Iterable[str]) -> str:
    roles = list(roles)
    return (
        f"Unknown role '{role}'.{did_you_mean(role, roles)} Roles for this incident: "
        f"{', '.join(roles)}."
    )


def bad_user(text: str) -> str:
    return f"'{text}' is not a user: mention them, e.g. /incident role commander @alice."


def bad_task_number(text: str, count: int) -> str:
    if count == 0:
        return "This incident has no tasks yet. Add one with /incident task add TEXT."
    return f"There is no task '{text}': use a number from 1 to {count} (see /incident tasks)."


def bad_timeline_count(text: str) -> str:
    return f"'{text}' is not a count: use /incident timeline or /incident timeline 50."


def already(what: str) -> str:
    return f"Nothing to change: the incident is already {what}."


def already_resolved(ref: str) -> str:
    return f"{ref} is already resolved. To reopen it: /incident state investigating."


def not_available(verb: str) -> str:
    return f"/incident {verb} is not available in this installation yet."


INTERNAL_ERROR = (
    "Something went wrong on our side and this command did not finish. Everything recorded "
    "before it is kept. Try again; if it keeps failing, tell whoever runs warroom (see its log)."
)


# -- chat forms and buttons --------------------------------------------------------------------

FORM_TITLE_MISSING = "Give the incident a title: one line saying what is broken."

FORM_EXPIRED = (
    "The declare form could not open in time. Try /incident declare again, or declare in one "
    "line: /incident declare sev2 service:NAME TITLE"
)


def checklist_truncated(more: int) -> str:
    return f"...and {more} more. Type /incident tasks to see them all."
