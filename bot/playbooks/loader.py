"""Load playbook YAML with ruamel.yaml (YAML 1.2, so `no` stays a string), keeping node
positions so every problem is reported as `file:line:col: message`, never as a traceback."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.core.playbook import Library, Loaded, Playbook, content_hash
from bot.core.playbook_check import Loc, check, fields_of

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int  # 1-based, as editors count
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class PlaybookErrors(Exception):
    """Raised when playbooks cannot be used; str() lists every problem, one per line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _plain(node: Any) -> Any:
    """ruamel's round-trip types -> plain Python, so pydantic sees ordinary values."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if type(node).__name__ == "ScalarBoolean":
        return bool(node)
    for base in (bool, int, float, str):
        if isinstance(node, base):
            return base(node)
    return node


def _position(root: Any, loc: Loc, *, key: bool = False) -> tuple[int, int]:
    """0-based (line, col) of the value at loc; of the key itself when `key`; of the nearest
    existing parent when loc runs past what the document has (a missing key)."""
    node, where = root, (getattr(getattr(root, "lc", None), "line", 0) or 0, 0)
    for i, step in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, CommentedMap) and step in node:
            want_key = (key and last) or loc[i + 1 : i + 2] == ("[key]",)
            where = node.lc.key(step) if want_key else node.lc.value(step)
            node = node[step]
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
            where = node.lc.item(step)
            node = node[step]
        else:
            if isinstance(node, CommentedMap | CommentedSeq) and i == len(loc) - 1:
                where = (node.lc.line, node.lc.col)
            break
    return where


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The schema class of the mapping at loc (for suggesting keys)."""
    model: type[BaseModel] | None = Playbook
    for step in loc:
        if model is None or isinstance(step, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == step), None)
        model = _find_model(field.annotation) if field else None
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    if isinstance(annotation, types.UnionType):
        return None
    return None


def _dotted(loc: Loc) -> str:
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _validation_problems(path: str, root: Any, error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            name = str(loc[-1])
            model = _model_at(loc[:-1])
            close = difflib.get_close_matches(name, fields_of(model), 1, 0.6) if model else []
            hint = f", did you mean '{close[0]}'?" if close else ""
            where = _dotted(loc[:-1])
            message = f"unknown key '{name}'{' in ' + where if where else ''}{hint or '.'}"
            if model and not hint:
                message += f" Allowed: {', '.join(fields_of(model))}"
            line, col = _position(root, loc, key=True)
        elif kind == "missing":
            message = f"{_dotted(loc[:-1]) or 'playbook'}: missing required key '{loc[-1]}'"
            line, col = _position(root, loc)
        else:
            msg = item["msg"].removeprefix("Value error, ")
            message = f"{_dotted(loc[:-1] if loc[-1:] == ('[key]',) else loc)}: {msg}"
            line, col = _position(root, loc)
        problems.append(Problem(path, line + 1, col + 1, message))
    return sorted(problems, key=lambda p: (p.line, p.col))


def load_text(text: str, path: str = "<playbook>") -> tuple[Loaded | None, list[Problem]]:
    """Parse and validate one playbook; (playbook, []) or (None, problems)."""
    yaml = YAML()  # round-trip: keeps line/column of every node; YAML 1.2 by default
    try:
        root = yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line, mark.column) if mark else (0, 0)
        reason = error.problem or error.context or "invalid YAML"
        return None, [Problem(path, line + 1, col + 1, f"invalid YAML: {reason}")]
    except YAMLError as error:
        return None, [Problem(path, 1, 1, f"invalid YAML: {error}")]
    if not isinstance(root, CommentedMap):
        return None, [
            Problem(
                path,
                1,
                1,
                "a playbook is a mapping: start with `name: ...` (see `warroom playbook schema`)",
            )
        ]
    try:
        playbook = Playbook.model_validate(_plain(root))
    except ValidationError as error:
        return None, _validation_problems(path, root, error)
    problems = []
    for finding in check(playbook):
        line, col = _position(root, finding.loc)
        problems.append(
            Problem(path, line + 1, col + 1, f"{_dotted(finding.loc)}: {finding.message}")
        )
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
