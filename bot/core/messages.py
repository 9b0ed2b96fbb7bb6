"""Every message a user sees when something they typed cannot be done, in one place.

Each says what to type instead, in one line where possible.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verb:
    """One line of the slash-command grammar: the only source of `/incident help`, of every
    "Usage:" line and of the README's command list (tests/test_readme_examples.py)."""

    name: str
    args: str
    does: str
    in_channel: bool = True


GRAMMAR: tuple[Verb, ...] = (
    Verb(
        "declare",
        "[sev1..sev4] [service:NAME] [commander:@user] [playbook:NAME] [label:NAME] "
        "[--private] TITLE",
        "declare an incident (no arguments: opens a form)",
        in_channel=False,
    ),
    Verb("list", "[--all]", "open incidents (--all: resolved ones too)", in_channel=False),
    Verb("show", "INC-N", "one incident's summary", in_channel=False),
    Verb("help", "", "this list", in_channel=False),
    Verb(
        "status",
        "TEXT",
        "post a status update (and to the announcement channel, if set; resets the reminder)",
    ),
    Verb("sev", "sev1|sev2|sev3|sev4", "change the severity"),
    Verb("state", "investigating|identified|monitoring|resolved", "change the state"),
    Verb("role", "ROLE @user", "give someone a role of the playbook"),
    Verb("note", "TEXT", "add a note to the timeline"),
    Verb("page", "TEAM|SERVICE|@user", "bring in a team's on-call or a person"),
    Verb("tasks", "[INC-N]", "show the checklist"),
    Verb("task", "done|skip|undo N | add TEXT", "mark a task, or add one"),
    Verb("timeline", "[INC-N] [N]", "the last N timeline events"),
    Verb("resolve", "[TEXT]", "resolve the incident"),
    Verb("postmortem", "[INC-N]", "the postmortem as a Markdown file"),
    Verb("followup", "TEXT", "add a follow-up action item to the postmortem"),
    Verb("ack", "", "acknowledge the page (stops the escalation)"),
    Verb(
        "oncall",
        "[TEAM|SERVICE]",
        "who is on call now, until when, and who is next",
        in_channel=False,
    ),
)

USAGE = {v.name: f"/incident {v.name} {v.args}".rstrip() for v in GRAMMAR}


def _help() -> str:
    def line(verb: Verb) -> str:
        usage = USAGE[verb.name]
        return f"{usage:<44}  {verb.does}" if len(usage) <= 44 else f"{usage}\n{'':<46}{verb.does}"

    anywhere = [line(v) for v in GRAMMAR if not v.in_channel]
    here = [line(v) for v in GRAMMAR if v.in_channel]
    return "\n".join([*anywhere, "in an incident channel:", *here, ANYWHERE])


# The verbs that also take an incident number, so they work outside its channel.
ANYWHERE = (
    "anywhere, for an incident you may see: /incident tasks INC-N, "
    "/incident timeline INC-N [N], /incident postmortem INC-N"
)


HELP = _help()


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


def unknown_playbook(name: str, names: Iterable[str]) -> str:
    names = list(names)
    known = f"Playbooks: {', '.join(names)}." if names else "No playbooks are loaded."
    return f"Unknown playbook '{name}'.{did_you_mean(name, names)} {known}"


def no_catalog_for(targets: Iterable[str]) -> str:
    teams = ", ".join(targets)
    return (
        f"The playbook asks to bring in {teams}, but there is no service catalog "
        "(WARROOM_CATALOG) to say who that is: nobody was invited. Page people with "
        "/incident page @user."
    )


def role_not_allowed(role: str, user: str, allowed: Iterable[str]) -> str:
    return (
        f"{user} may not hold the {role} role in this incident's playbook. "
        f"Allowed: {', '.join(allowed)}."
    )


def unknown_team(target: str, suggestion: str) -> str:
    return (
        f"There is no team or service '{target}' in the catalog.{suggestion} "
        "To page a person: /incident page @user."
    )


def escalating(ref: str, team: str, after: str, users: Iterable[str]) -> str:
    people = ", ".join(f"@{u}" for u in users)
    return f"Nobody acknowledged {ref} within {after}: escalating to {people} ({team})."


def checklist_added(name: str, count: int) -> str:
    return f"Checklist '{name}' added ({count} tasks). /incident tasks lists every task."


INTERNAL_ERROR = (
    "Something went wrong on our side and this command did not finish. Everything recorded "
    "before it is kept. Try again; if it keeps failing, tell whoever runs warroom (see its log)."
)


def bad_postmortem_template(line: int | None, detail: str) -> str:
    where = f" at line {line}" if line else ""
    return (
        f"The playbook's postmortem template has an error{where}: {detail}. Fix the template "
        "(its variables are listed in bot/core/postmortem/__init__.py) or remove it to use "
        "the default."
    )


def bad_report_date(text: str) -> str:
    return f"--since '{text}' is not a date: write it as YYYY-MM-DD (UTC), e.g. 2026-01-31."


def bad_report_format(text: str, formats: Iterable[str]) -> str:
    return f"--format '{text}' is not a report format: use one of {', '.join(formats)}."


# Forms and buttons of chat platforms (the Mattermost adapter's are here so all user-facing
# text stays in one file).
FORM_NEEDS_PUBLIC_URL = (
    "The declare form needs WARROOM_PUBLIC_URL (the address Mattermost uses to reach warroom). "
    "Meanwhile, declare with: /incident declare [sev1..sev4] [service:NAME] TITLE"
)
FORM_DID_NOT_OPEN = (
    "The declare form did not open (the request may have expired). Run /incident declare "
    "again, or type /incident declare [sev1..sev4] [service:NAME] TITLE."
)
BUTTON_NOT_RECOGNISED = (
    "warroom did not recognise this button (it may come from another installation). "
    "Use /incident tasks and /incident task done N in the incident channel."
)
BUTTON_INCIDENT_GONE = (
    "This checklist's incident is not in this channel any more. Use /incident list to find it."
)
COMMAND_TOKEN_MISMATCH = (
    "warroom refused this command: its token does not match MATTERMOST_COMMAND_TOKEN. "
    "Ask whoever runs warroom to copy the slash command's token into that setting."
)

# -- chat forms and buttons --------------------------------------------------------------------

FORM_TITLE_MISSING = "Give the incident a title: one line saying what is broken."

FORM_EXPIRED = (
    "The declare form could not open in time. Try /incident declare again, or declare in one "
    "line: /incident declare sev2 service:NAME TITLE"
)


def checklist_truncated(more: int) -> str:
    return f"...and {more} more. Type /incident tasks to see them all."


def declaration_incomplete(ref: str) -> str:
    return (
        f"{ref} is declared and recorded, but setting up its channel failed (the chat "
        "platform did not answer as expected). Do not declare it again: warroom finishes the "
        "set-up when it restarts, and /incident show " + ref + " shows what is recorded."
    )


def already_paged(who: str) -> str:
    return f"Nobody new to page: {who}, already in this incident."


def already_here(user: str) -> str:
    return f"{user} is already in this incident; nobody was paged."


def two_severities(first: str, second: str) -> str:
    return f"Two severities ({first} and {second}): give one. {usage('declare')}"


def unknown_label(label: str, labels: Iterable[str]) -> str:
    labels = list(labels)
    known = (
        f"Labels the playbooks use: {', '.join(labels)}."
        if labels
        else ("No playbook uses labels.")
    )
    return f"Unknown label '{label}'.{did_you_mean(label, labels)} {known}"


def page_dm(by: str, ref: str, severity: str, title: str, where: str) -> str:
    return (
        f"{by} paged you into {ref} ({severity}): {title}. Join {where}. "
        "Press Acknowledge (or type /incident ack there) to stop the escalation."
    )


def page_not_resent(user: str, ago: str) -> str:
    return f"{user} was paged {ago} ago: recorded, not sent again."


def page_not_delivered(user: str, reason: str) -> str:
    return f"Could not send {user} the page by direct message ({reason}); they were invited."


def acknowledged(user: str, ref: str) -> str:
    return f"{user} acknowledged {ref}: escalation stopped."


def already_acknowledged(ref: str, when: str) -> str:
    return f"{ref} was already acknowledged at {when}."


def nobody_on_call(team: str) -> str:
    return f"Nobody is on call for {team} right now: the escalation policy goes on."


def pagerduty_failed(action: str, reason: str) -> str:
    return f"PagerDuty did not take the {action} event ({reason})."


def no_catalog_oncall() -> str:
    return "There is no service catalog (WARROOM_CATALOG), so nobody is on call here."


# -- privacy and permissions (bot/core/access.py) -----------------------------------------------


def private_incident(ref: str) -> str:
    return f"{ref} is private. Ask its commander to page you in if you need to help."


def other_platform(ref: str, platform: str) -> str:
    return f"{ref} was declared on {platform}: look it up there."


def hidden_private(count: int) -> str:
    return f"...and {count} private incident{'s' if count != 1 else ''}."


STEERING_WHAT = {
    "severity": "change the severity of",
    "state": "change the state of",
    "resolve": "resolve",
    "reopen": "reopen",
    "roles": "assign roles in",
}


def not_permitted(action: str, ref: str, allowed: Iterable[tuple[str, str | None]]) -> str:
    """`allowed` is (role, current holder or None) for each role that may do it."""
    who = [
        f"the {role} (@{holder})" if holder else f"the {role} (nobody yet)"
        for role, holder in allowed
    ]
    people = ", ".join(who)
    return (
        f"Only {people} or a warroom admin may {STEERING_WHAT[action]} {ref}. "
        "Nothing was changed; ask them, or post your view with /incident status TEXT."
    )


def not_your_page(paged_user: str) -> str:
    return f"This page is for @{paged_user}: only they can acknowledge it."


def too_long(what: str, limit: int, length: int) -> str:
    return f"The {what} is too long ({length} characters; at most {limit}): shorten it."


def empty_after_cleaning(what: str) -> str:
    return f"The {what} is empty once control characters are removed: type some text."
