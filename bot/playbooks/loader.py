"""Load playbook YAML keeping node positions, so every problem is reported as
`file:line:col: message`, never as a traceback."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from bot.core.playbook import Library, Loaded, Playbook, content_hash
from bot.core.playbook_check import check
from bot.playbooks.errors import PlaybookErrors
from bot.playbooks.yamlpos import Problem, located, parse, plain, validation_problems

SUFFIXES = (".yaml", ".yml")


def load_text(text: str, path: str = "<playbook>") -> tuple[Loaded | None, list[Problem]]:
    """Parse and validate one playbook; (playbook, []) or (None, problems)."""
    root, problems = parse(
        text,
        path,
        "a playbook is a mapping: start with `name: ...` (see `warroom playbook schema`)",
    )
    if root is None:
        return None, problems
    try:
        playbook = Playbook.model_validate(plain(root))
    except ValidationError as error:
        return None, validation_problems(path, root, error, Playbook)
    problems = [
        located(path, root, f.loc, f.message, needle=f.needle, source=text) for f in check(playbook)
    ]
    if problems:
        return None, sorted(problems, key=lambda p: (p.line, p.col))
    return Loaded(playbook=playbook, content_hash=content_hash(text.encode()), source=path), []


def playbook_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            files += sorted(p for p in entry.iterdir() if p.suffix in SUFFIXES and p.is_file())
        else:
            files.append(entry)
    return files


def load_paths(paths: Iterable[str | Path]) -> tuple[list[Loaded], list[Problem]]:
    """Every playbook under the given files and folders, with every problem found."""
    loaded: list[Loaded] = []
    problems: list[Problem] = []
    names: dict[str, str] = {}
    for file in playbook_files(paths):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            problems.append(Problem(str(file), 1, 1, f"cannot read: {reason}"))
            continue
        item, found = load_text(text, str(file))
        problems += found
        if item is None:
            continue
        name = item.playbook.name
        if name in names:
            line = next(
                (i for i, row in enumerate(text.splitlines(), 1) if row.startswith("name:")), 1
            )
            problems.append(
                Problem(
                    str(file), line, 7, f"duplicate playbook name '{name}' (also in {names[name]})"
                )
            )
            continue
        names[name] = str(file)
        loaded.append(item)
    return loaded, problems


def load_library(folder: str | Path) -> Library:
    """The playbooks of a folder; a missing folder is an empty library, a bad playbook is
    PlaybookErrors (the bot must not start on a playbook it cannot run)."""
    if not Path(folder).exists():
        return Library()
    loaded, problems = load_paths([folder])
    if problems:
        raise PlaybookErrors(problems)
    return Library(loaded)
