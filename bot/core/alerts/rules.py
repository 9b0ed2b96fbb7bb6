"""Routing rules: which labels go to which catalog service, and what to do with the group.

A rules file (WARROOM_ALERT_RULES) is a list of rules tried in order; the first that matches
decides. `match` compares labels for equality, `match_re` with a regular expression that must
match the whole value (as Alertmanager's matchers do). Alerts that match no rule take the
`default` route; a file without one falls back to the built-in route below, and lint warns.

The built-in route (also what runs with no rules file at all): an alert whose `service` label
names a catalog service and whose `severity` label is `critical` declares an incident for that
service at sev2 (or attaches to that service's open incident); any other alert is offered to
the owning team.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from pydantic import Field, field_validator

from bot.core.messages import did_you_mean
from bot.core.model import Severity
from bot.core.playbook import Duration, Name, Spec
from bot.core.playbook_check import Finding


class Action(StrEnum):
    DECLARE = "declare"  # declare an incident (or attach to the service's open one)
    OFFER = "offer"  # post to the team with a "Declare incident" button
    ATTACH = "attach"  # to the service's open incident; offered when there is none


class OfferTo(StrEnum):
    CHANNEL = "channel"  # a post in the rule's, the service's or the team's channel
    ONCALL = "oncall"  # a direct message to the owning team's on-call (else the channel)


class Route(Spec):
    action: Action = Action.OFFER
    service: Name | None = Field(
        None, description="catalog service; default: the alert's `service` label"
    )
    team: Name | None = Field(None, description="owning team, when no service names one")
    severity: Severity = Field(Severity.SEV2, description="for declare")
    channel: str | None = Field(
        None, description="where offers go; default: the announcement channel"
    )
    resolve: bool = Field(False, description="resolve the incident when all alerts resolved")
    to: OfferTo = Field(
        OfferTo.CHANNEL,
        description="where an offer goes: `channel`, or `oncall` (a direct message to the "
        "owning team's on-call; the channel when nobody is on call)",
    )


class Rule(Route):
    name: str | None = None
    match: dict[str, str] = {}
    match_re: dict[str, str] = {}

    @field_validator("match_re")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"'{label}': bad regular expression: {error}") from None
        return value

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match.items():
            if labels.get(key, "") != value:
                return False
        for key, pattern in self.match_re.items():
            if _compiled(pattern).fullmatch(labels.get(key, "")) is None:
                return False
        return True


class Storm(Spec):
    """Per team: at most `limit` alert lines in chat per `window` (fixed windows, shared by
    replicas); the rest are counted in one "and N more alerts" message per incident and
    window (every alert is still recorded)."""

    limit: int = Field(20, ge=1)
    window: Duration = timedelta(minutes=10)


class Rules(Spec):
    rules: list[Rule] = []
    default: Route | None = None
    storm: Storm = Storm()


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _PATTERNS.get(pattern)
    if found is None:
        found = _PATTERNS[pattern] = re.compile(pattern)
    return found


@dataclass(frozen=True)
class Decision:
    action: Action
    service: str | None
    team: str | None
    severity: Severity
    channel: str | None = None
    resolve: bool = False
    rule: str | None = None  # which rule decided (None: the default or built-in route)
    to: OfferTo = OfferTo.CHANNEL


def decide(
    labels: Mapping[str, str], rules: Rules | None, owner_of: Callable[[str], str | None]
) -> Decision:
    """The route for a group with these labels. `owner_of(service)` is the owning team, or
    None for a service the catalog does not know."""
    chosen: Route | None = None
    name = None
    for i, rule in enumerate(rules.rules if rules else ()):
        if rule.matches(labels):
            chosen, name = rule, rule.name or f"rules[{i}]"
            break
    if chosen is None and rules is not None:
        chosen = rules.default
    if chosen is None:
        return builtin(labels, owner_of)
    service = chosen.service or labels.get("service") or None
    team = (owner_of(service) if service else None) or chosen.team or labels.get("team")
    if service is not None and owner_of(service) is None:
        service = None  # not a catalog service: nothing to declare it for
    action = chosen.action
    if action is not Action.OFFER and service is None:
        action = Action.OFFER  # an incident needs a service to own it
    return Decision(
        action, service, team, chosen.severity, chosen.channel, chosen.resolve, name, chosen.to
    )


def builtin(labels: Mapping[str, str], owner_of: Callable[[str], str | None]) -> Decision:
    service = labels.get("service") or None
    team = owner_of(service) if service else None
    if team is None:
        return Decision(Action.OFFER, None, labels.get("team"), Severity.SEV2)
    if labels.get("severity") == "critical":
        return Decision(Action.DECLARE, service, team, Severity.SEV2)
    return Decision(Action.OFFER, service, team, Severity.SEV2)


def check_rules(
    rules: Rules,
    services: Callable[[str], bool],
    teams: Callable[[str], bool],
    names: list[str],
    *,
    oncall_of: Callable[[str | None, str | None], bool | None] | None = None,
) -> tuple[list[Finding], list[Finding]]:
    """(errors, warnings): a rule naming a service or team the catalog does not have is an
    error; no default route is a warning. `names` are the catalog's services, for hints.
    `oncall_of(service, team)` says whether the route's team (the service's owner, else the
    team) has an on-call set up (None: unknown): a `to: oncall` route whose team has none
    warns (its offers go to a channel)."""
    errors: list[Finding] = []
    warnings: list[Finding] = []
    routes: list[tuple[tuple[str | int, ...], Route]] = [
        (("rules", i), r) for i, r in enumerate(rules.rules)
    ]
    if rules.default is not None:
        routes.append((("default",), rules.default))
    for loc, route in routes:
        if route.service is not None and not services(route.service):
            errors.append(
                Finding(
                    (*loc, "service"),
                    f"undefined service '{route.service}'.{did_you_mean(route.service, names)}",
                )
            )
        if route.team is not None and not teams(route.team):
            errors.append(Finding((*loc, "team"), f"undefined team '{route.team}'"))
        named = route.service or route.team
        if (
            route.to is OfferTo.ONCALL
            and oncall_of
            and oncall_of(route.service, route.team) is False
        ):
            warnings.append(
                Finding(
                    (*loc, "to"),
                    f"'{named}' has no on-call in the catalog (no oncall, rotation, overrides "
                    "or calendar): its offers go to the team's channel instead",
                )
            )
    if rules.default is None:
        warnings.append(
            Finding(
                (),
                "no default route: alerts that match no rule take the built-in route "
                "(critical -> declare sev2, others offered to the owning team); "
                "add `default:` to say what you want",
            )
        )
    return errors, warnings
