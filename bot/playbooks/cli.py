"""`warroom playbook lint|schema` and `warroom drill`."""

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


def lint_catalog(path: str | None) -> int:
    from bot.playbooks.catalog_loader import check_catalog_file

    if not path:
        raise PlaybookCliError("no catalog: pass a PATH or set WARROOM_CATALOG")
    catalog, problems = check_catalog_file(path)
    for problem in problems:
        print(problem)
    if catalog is None:
        print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(
        f"{path}: {len(catalog.teams)} team(s), {len(catalog.services)} service(s): OK",
        file=sys.stderr,
    )
    return 0
