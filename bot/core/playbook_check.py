"""Checks across a playbook that the schema alone cannot make: references and templates.

Each problem names the path of the offending value (the same shape as a pydantic error `loc`),
so the YAML loader can point at its line and column.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.core.access import STEERING
from bot.core.messages import did_you_mean
from bot.core.playbook import Playbook

# Variables a template may use; the engine fills every one of them.
TEMPLATE_VARIABLES = (
    "incident",
    "title",
    "severity",
    "severity_label",
    "state",
    "service",
    "channel",
    "commander",
    "declared_by",
    "playbook",
    "cadence",
)

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    loc: Loc
    message: str
    # Text inside the value that the problem is about (a `{variable}`), so that the position
    # given is its own line, not the first line of a multi-line value.
    needle: str | None = None


def template_fields(template: str) -> list[str]:
    """The variable names a `{name}` template uses; ValueError if it is malformed."""
    names = []
    for _, field, spec, _ in string.Formatter().parse(template):
        if field is None:
            continue
        if not field or not field.isidentifier():
            raise ValueError(
                f"'{{{field}}}' is not a variable: use {{name}}, or {{{{ and }}}} for braces"
            )
        if spec:
            raise ValueError(f"'{{{field}:{spec}}}': format specs are not supported")
        names.append(field)
    return names


def render(template: str, variables: dict[str, str]) -> str:
    """Fill a template; unknown variables stay as written (lint reports them beforehand)."""
    try:
        return template.format_map(_Keep(variables))
    except (ValueError, IndexError, KeyError, AttributeError):
        return template


class _Keep(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _templates(playbook: Playbook) -> Iterator[tuple[Loc, str]]:
    if playbook.announcement is not None:
        yield ("announcement",), playbook.announcement
    if playbook.status_updates is not None:
        yield ("status_updates", "message"), playbook.status_updates.message
    if playbook.retrospective is not None:
        yield ("retrospective", "message"), playbook.retrospective.message
    for t, trigger in enumerate(playbook.triggers):
        for a, action in enumerate(trigger.do):
            if action.post is not None:
                yield ("triggers", t, "do", a, "post"), action.post
            if action.remind is not None:
                yield ("triggers", t, "do", a, "remind", "text"), action.remind.text


def _role_refs(playbook: Playbook) -> Iterator[tuple[Loc, str]]:
    for c, checklist in enumerate(playbook.checklists):
        for t, task in enumerate(checklist.tasks):
            if task.assignee:
                yield ("checklists", c, "tasks", t, "assignee"), task.assignee
    for t, trigger in enumerate(playbook.triggers):
        for a, action in enumerate(trigger.do):
            if action.remind is not None and action.remind.role:
                yield ("triggers", t, "do", a, "remind", "role"), action.remind.role
            if action.assign_role is not None:
                yield ("triggers", t, "do", a, "assign_role", "role"), action.assign_role.role
    for action_name in STEERING:
        for i, role in enumerate(playbook.permissions.roles_for(action_name)):
            yield ("permissions", action_name, i), role


def _duplicates(names: list[str], loc: Loc) -> Iterator[Finding]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield Finding((*loc, i, "name"), f"duplicate name '{name}'")
        seen.add(name)


def check(playbook: Playbook) -> list[Finding]:
    findings: list[Finding] = []
    findings += _duplicates([r.name for r in playbook.roles], ("roles",))
    findings += _duplicates([c.name for c in playbook.checklists], ("checklists",))
    roles = playbook.role_names()
    for loc, role in _role_refs(playbook):
        if role not in roles:
            findings.append(
                Finding(
                    loc,
                    f"undefined role '{role}'.{did_you_mean(role, roles)} "
                    f"Define it under roles: (defined: {', '.join(roles)})",
                )
            )
    checklists = [c.name for c in playbook.checklists]
    for t, trigger in enumerate(playbook.triggers):
        for a, action in enumerate(trigger.do):
            name = action.add_checklist
            if name is not None and name not in checklists:
                findings.append(
                    Finding(
                        ("triggers", t, "do", a, "add_checklist"),
                        f"undefined checklist '{name}'.{did_you_mean(name, checklists)}",
                    )
                )
    for loc, template in _templates(playbook):
        try:
            fields = template_fields(template)
        except ValueError as error:
            findings.append(Finding(loc, f"bad template: {error}"))
            continue
        for field in fields:
            if field not in TEMPLATE_VARIABLES:
                findings.append(
                    Finding(
                        loc,
                        f"undefined template variable '{{{field}}}'."
                        f"{did_you_mean(field, TEMPLATE_VARIABLES)} "
                        f"Known: {', '.join(TEMPLATE_VARIABLES)}",
                        needle=f"{{{field}}}",
                    )
                )
    return findings


def fields_of(model: Any) -> list[str]:
    """Keys a playbook section accepts (for 'did you mean' on unknown keys)."""
    return [f.alias or name for name, f in model.model_fields.items()]
