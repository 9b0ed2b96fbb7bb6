"""`warroom playbook lint|schema|import` and `warroom drill`."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.core.playbook import Loaded, json_schema
from bot.playbooks.errors import PlaybookCliError
from bot.playbooks.loader import load_paths, playbook_files


def lint(paths: Sequence[str], default_folder: str) -> int:
    targets = list(paths) or [default_folder]
    files = playbook_files(p for p in targets if Path(p).exists())
    missing = [p for p in targets if not Path(p).exists()]
    loaded, problems = load_paths([*files, *missing])
    for problem in problems:
        print(problem)
    if not files and not missing:
        print(
            f"warroom: no playbook files (*.yaml, *.yml) in {', '.join(targets)}", file=sys.stderr
        )
        return 1
    summary = f"{len(files) + len(missing)} file(s), {len(loaded)} valid playbook(s)"
    if problems:
        print(f"{summary}, {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{summary}: OK", file=sys.stderr)
    return 0


def schema() -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def import_playbook(source: str, out: str | None) -> int:
    """A Mattermost Playbooks export -> warroom playbook YAML (stdout, or the file `out`), and
    on standard error what could not be carried over."""
    from bot.playbooks import importer
    from bot.playbooks.loader import load_text

    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise PlaybookCliError(f"cannot read {source}: {reason}") from None
    try:
        conversion = importer.convert(importer.read_export(text))
    except importer.ExportUnreadable as error:
        raise PlaybookCliError(f"{source}: {error}") from None
    yaml_text = importer.to_yaml(conversion.playbook)
    _, problems = load_text(yaml_text, out or "<stdout>")
    if problems:  # a bug here, not in the export: say so rather than write a bad playbook
        raise PlaybookCliError(
            "the imported playbook does not lint (please report this):\n"
            + "\n".join(str(p) for p in problems)
        )
    left_out = list(conversion.left_out)
    if out is None:
        sys.stdout.write(yaml_text)
        if conversion.retrospective_template:
            left_out.append("(pass -o OUT.yaml to save the retrospective template beside it)")
    else:
        target = Path(out)
        try:
            target.write_text(yaml_text, encoding="utf-8")
            if conversion.retrospective_template:
                template = target.with_suffix(".retrospective.md")
                template.write_text(conversion.retrospective_template, encoding="utf-8")
                left_out.append(f"(retrospective template saved as {template})")
        except OSError as error:
            raise PlaybookCliError(f"cannot write {out}: {error.strerror}") from None
        print(f"wrote {out} (playbook '{conversion.playbook['name']}')", file=sys.stderr)
    if left_out:
        print("Not carried over:", file=sys.stderr)
        for line in left_out:
            print(f"  - {line}", file=sys.stderr)
    return 0


def find_playbook(name: str, folder: str) -> Loaded:
    """A playbook by file path, or by name among the folder's playbooks."""
    source = Path(name)
    paths = [source] if source.suffix in (".yaml", ".yml") else [folder]
    if not all(Path(p).exists() for p in paths):
        raise PlaybookCliError(f"no playbook file {paths[0]}")
    loaded, problems = load_paths(paths)
    if problems:
        raise PlaybookCliError("invalid playbook:\n" + "\n".join(str(p) for p in problems))
    if source.suffix in (".yaml", ".yml"):
        return loaded[0]
    for item in loaded:
        if item.playbook.name == name:
            return item
    names = ", ".join(sorted(i.playbook.name for i in loaded)) or "none"
    raise PlaybookCliError(f"no playbook named '{name}' in {folder} (playbooks: {names})")


def lint_catalog(path: str | None, *, coverage: bool = False, days: int = 14) -> int:
    from bot.core.clock import SystemClock
    from bot.core.ownership.coverage import coverage_gaps
    from bot.playbooks.catalog_loader import check_catalog_file

    if not path:
        raise PlaybookCliError("no catalog: pass a PATH or set WARROOM_CATALOG")
    if days < 1:
        raise PlaybookCliError(f"--days must be 1 or more (got {days})")
    catalog, problems = check_catalog_file(path)
    for problem in problems:
        print(problem)
    if catalog is None:
        print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    summary = f"{path}: {len(catalog.teams)} team(s), {len(catalog.services)} service(s)"
    if coverage:
        gaps = coverage_gaps(catalog, SystemClock().now(), days)
        for line in gaps:
            print(f"coverage: {line}")
        if gaps:
            print(
                f"{summary}: {len(gaps)} coverage gap(s) in the next {days} days", file=sys.stderr
            )
            return 1
        summary += f", covered for the next {days} days"
    print(f"{summary}: OK", file=sys.stderr)
    return 0


def oncall(path: str | None, target: list[str], at: str | None, days: int) -> int:
    """`warroom oncall TEAM|SERVICE [--at TIME]` and `warroom oncall ical TEAM`."""
    from datetime import UTC, datetime, timedelta

    from bot.core.clock import SystemClock
    from bot.core.commands import UsageError
    from bot.core.ownership.answer import oncall_answer
    from bot.core.ownership.oncall import OnCall
    from bot.core.ownership.resolve import unknown
    from bot.playbooks.catalog_loader import load_catalog
    from bot.playbooks.ical import export

    if not path:
        raise PlaybookCliError("no catalog: set WARROOM_CATALOG")
    when = SystemClock().now()
    if at:
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise PlaybookCliError(
                f"--at: '{at}' is not a time (e.g. 2027-03-29T07:30:00Z)"
            ) from None
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    catalog = load_catalog(path)
    if target[0] == "ical" and len(target) == 2:
        team = catalog.team(target[1])
        if team is None:
            raise PlaybookCliError(unknown(catalog, target[1]))
        start = when.replace(hour=0, minute=0, second=0, microsecond=0)
        sys.stdout.write(
            export(team, OnCall(catalog), start, start + timedelta(days=days)).decode()
        )
        return 0
    if len(target) != 1:
        raise PlaybookCliError("usage: warroom oncall TEAM|SERVICE [--at TIME] | oncall ical TEAM")
    try:
        print(oncall_answer(catalog, target[0], when))
    except UsageError as error:
        raise PlaybookCliError(str(error)) from None
    return 0


def lint_alert_rules(path: str | None, catalog_path: str | None) -> int:
    """`warroom alerts lint`: errors (exit 1) and warnings (exit 0) as file:line:col."""
    from bot.playbooks.alert_rules import check_rules_file
    from bot.playbooks.catalog_loader import load_catalog

    if not path:
        raise PlaybookCliError("no alert rules: pass a PATH or set WARROOM_ALERT_RULES")
    catalog = load_catalog(catalog_path) if catalog_path else None
    rules, errors, warnings = check_rules_file(path, catalog)
    for problem in [*errors, *warnings]:
        print(problem)
    if rules is None:
        print(f"{path}: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print(f"{path}: {len(rules.rules)} rule(s), {len(warnings)} warning(s): OK", file=sys.stderr)
    return 0
