"""YAML with positions: parse with ruamel.yaml (YAML 1.2, so `no` stays a string) and turn
every YAML or validation error into `file:line:col: message`. Shared by playbooks and the
service catalog."""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.core.playbook_check import Loc, fields_of


@dataclass(frozen=True)
class Problem:
    path: str
    line: int  # 1-based, as editors count
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


def plain(node: Any) -> Any:
    """ruamel's round-trip types -> plain Python, so pydantic sees ordinary values."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if type(node).__name__ == "ScalarBoolean":
        return bool(node)
    for base in (bool, int, float, str):
        if isinstance(node, base):
            return base(node)
    return node


def position(root: Any, loc: Loc, *, key: bool = False) -> tuple[int, int]:
    """0-based (line, col) of the value at loc; of the key itself when `key`; of the nearest
    existing parent when loc runs past what the document has (a missing key)."""
    node, where = root, (getattr(getattr(root, "lc", None), "line", 0) or 0, 0)
    for i, step in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, CommentedMap) and step in node:
            want_key = (key and last) or loc[i + 1 : i + 2] == ("[key]",)
            try:
                where = node.lc.key(step) if want_key else node.lc.value(step)
            except (KeyError, TypeError):
                # Keys brought in by a merge (`<<: *base`) have no position of their own here.
                where = (node.lc.line, node.lc.col)
            node = node[step]
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
            where = node.lc.item(step)
            node = node[step]
        else:
            if isinstance(node, CommentedMap | CommentedSeq) and i == len(loc) - 1:
                where = (node.lc.line, node.lc.col)
            break
    return where


def _model_at(root_model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The schema class of the mapping at loc (for suggesting keys)."""
    model: type[BaseModel] | None = root_model
    for step in loc:
        if model is None or isinstance(step, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == step), None)
        model = find_model(field.annotation) if field else None
    return model


def find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = find_model(arg)
        if found is not None:
            return found
    if isinstance(annotation, types.UnionType):
        return None
    return None


def dotted(loc: Loc) -> str:
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def validation_problems(
    path: str, root: Any, error: ValidationError, model: type[BaseModel]
) -> list[Problem]:
    """Every pydantic error as a positioned Problem, with a suggestion for unknown keys."""
    root_model = model
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            name = str(loc[-1])
            model = _model_at(root_model, loc[:-1])
            close = difflib.get_close_matches(name, fields_of(model), 1, 0.6) if model else []
            hint = f", did you mean '{close[0]}'?" if close else ""
            where = dotted(loc[:-1])
            message = f"unknown key '{name}'{' in ' + where if where else ''}{hint or '.'}"
            if model and not hint:
                message += f" Allowed: {', '.join(fields_of(model))}"
            line, col = position(root, loc, key=True)
        elif kind == "missing":
            message = f"{dotted(loc[:-1]) or 'top level'}: missing required key '{loc[-1]}'"
            line, col = position(root, loc)
        else:
            msg = item["msg"].removeprefix("Value error, ")
            message = f"{dotted(loc[:-1] if loc[-1:] == ('[key]',) else loc)}: {msg}"
            line, col = position(root, loc)
        problems.append(Problem(path, line + 1, col + 1, message))
    return sorted(problems, key=lambda p: (p.line, p.col))


def parse(text: str, path: str, not_a_mapping: str) -> tuple[CommentedMap | None, list[Problem]]:
    """The document's top-level mapping (with positions), or the problems that prevent it."""
    yaml = YAML()  # round-trip: keeps line/column of every node; YAML 1.2 by default
    try:
        root = yaml.load(text)
    except YAMLError as error:
        return None, [yaml_problem(path, error)]
    if not isinstance(root, CommentedMap):
        return None, [Problem(path, 1, 1, not_a_mapping)]
    return root, []


def parse_all(text: str, path: str) -> tuple[list[Any], list[Problem]]:
    """Every document of a stream (with positions; empty ones as None), or the problem that
    prevents reading it."""
    try:
        return list(YAML().load_all(text)), []
    except YAMLError as error:
        return [], [yaml_problem(path, error)]
    except RecursionError:
        return [], [Problem(path, 1, 1, "invalid YAML: nested too deeply")]


def yaml_problem(path: str, error: YAMLError) -> Problem:
    """ruamel's parse error as `file:line:col: invalid YAML: reason`."""
    if isinstance(error, MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line, mark.column) if mark else (0, 0)
        reason = error.problem or error.context or "invalid YAML"
        return Problem(path, line + 1, col + 1, f"invalid YAML: {reason}")
    return Problem(path, 1, 1, f"invalid YAML: {error}")


def located(
    path: str,
    root: Any,
    loc: Loc,
    message: str,
    *,
    needle: str | None = None,
    source: str | None = None,
) -> Problem:
    line, col = position(root, loc)
    if needle and source:
        line, col = _find_from(source, line, col, needle)
    return Problem(path, line + 1, col + 1, f"{dotted(loc)}: {message}")


def _find_from(source: str, line: int, col: int, needle: str) -> tuple[int, int]:
    """Where `needle` first appears at or after (line, col): a variable inside a `|-` block or
    a multi-line string, on its own line."""
    lines = source.splitlines()
    for n in range(line, len(lines)):
        at = lines[n].find(needle, col if n == line else 0)
        if at >= 0:
            return n, at
    return line, col
