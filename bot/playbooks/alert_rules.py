"""Load alert routing rules (WARROOM_ALERT_RULES) with positions for `file:line:col` problems,
checked against the service catalog: a rule naming a service the catalog lacks is an error,
a file without a default route gets a warning, and so does a `to: oncall` rule whose team has
no on-call to direct-message."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from bot.core.alerts.rules import Rules, check_rules
from bot.core.catalog import Catalog
from bot.playbooks.loader import PlaybookErrors
from bot.playbooks.yamlpos import Problem, located, parse, plain, validation_problems


def load_rules_text(
    text: str, catalog: Catalog | None, path: str = "<alert rules>"
) -> tuple[Rules | None, list[Problem], list[Problem]]:
    """(rules or None, errors, warnings)."""
    root, problems = parse(text, path, "alert rules are a mapping with rules: and default:")
    if root is None:
        return None, problems, []
    try:
        rules = Rules.model_validate(plain(root))
    except ValidationError as error:
        return None, validation_problems(path, root, error, Rules), []
    services = [s.name for s in catalog.services] if catalog else []
    errors, warnings = check_rules(
        rules,
        lambda name: catalog is not None and catalog.service(name) is not None,
        lambda name: catalog is not None and catalog.team(name) is not None,
        services,
        oncall_of=(lambda service, team: _has_oncall(catalog, service, team)) if catalog else None,
    )
    if errors and catalog is None:
        errors = [type(f)(f.loc, f.message + " (no catalog: set WARROOM_CATALOG)") for f in errors]
    errs = sorted((located(path, root, f.loc, f.message) for f in errors), key=_order)
    warns = [
        located(path, root, f.loc, f.message) if f.loc else Problem(path, 1, 1, f.message)
        for f in warnings
    ]
    warns = [Problem(w.path, w.line, w.col, "warning: " + w.message) for w in warns]
    return (None if errs else rules), errs, warns


def _has_oncall(catalog: Catalog, service: str | None, team: str | None) -> bool | None:
    """Whether the route's team (the service's owner, else the named team) has an on-call set
    up; None when the catalog has neither (the route's team then comes from labels)."""
    found = catalog.owner_of(service) or (catalog.team(team) if team else None)
    return found.has_oncall_setup if found is not None else None


def _order(problem: Problem) -> tuple[int, int]:
    return problem.line, problem.col


def check_rules_file(
    path: str | Path, catalog: Catalog | None
) -> tuple[Rules | None, list[Problem], list[Problem]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return None, [Problem(str(path), 1, 1, f"cannot read: {reason}")], []
    return load_rules_text(text, catalog, str(path))


def load_rules(path: str | Path, catalog: Catalog | None) -> Rules:
    """The rules, or PlaybookErrors listing every problem (the bot will not start)."""
    rules, errors, _ = check_rules_file(path, catalog)
    if rules is None:
        raise PlaybookErrors(errors)
    return rules
