"""Load the service catalog (WARROOM_CATALOG): files, folders and globs, separated by commas,
each in warroom's YAML or Backstage descriptor format, into one bot.core.ownership.Catalog.

Parsing is fast (yaml-rs or libyaml, bot/playbooks/fastyaml.py) and keeps no positions; only
when there is a problem to report are the files concerned composed again, by libyaml with its
marks (bot/playbooks/marks.py), for `file:line:col`. ruamel words what no fast parser reads.
"""

from __future__ import annotations

import gc
import glob
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.core.messages import did_you_mean
from bot.core.ownership import Catalog, check_catalog
from bot.core.playbook_check import Loc
from bot.playbooks import backstage, fastyaml, marks
from bot.playbooks.backstage import Merged, Origin
from bot.playbooks.ical import CalendarError, IcsCalendar
from bot.playbooks.loader import PlaybookErrors
from bot.playbooks.yamlpos import Problem, dotted, parse_all, position, validation_problems

NATIVE_KEYS = ("people", "teams", "services")
SUFFIXES = (".yaml", ".yml")


def catalog_paths(spec: str | Path) -> tuple[list[Path], list[Problem]]:
    """The files named by WARROOM_CATALOG: each comma-separated part a file, a folder (its
    *.yaml and *.yml, recursively) or a glob."""
    paths: list[Path] = []
    problems: list[Problem] = []
    for part in (p.strip() for p in str(spec).split(",")):
        if not part:
            continue
        path = Path(part)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        elif glob.has_magic(part):
            found = sorted(Path(p) for p in glob.glob(part, recursive=True) if Path(p).is_file())
        else:
            found = [path]
        if not found:
            problems.append(Problem(part, 1, 1, "no catalog files here (*.yaml, *.yml)"))
        paths.extend(p for p in found if p not in paths)
    return paths, problems


class _Positions:
    """Node trees per file, composed on first need (problems only): libyaml's, with ruamel's
    documents for a file libyaml refuses."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self._docs: dict[str, marks.Documents] = {}
        self._ruamel: dict[str, list[Any]] = {}

    def at(self, path: str, doc: int, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        text = self.texts.get(path, "")
        if path not in self._ruamel:
            documents = self._docs.setdefault(path, marks.Documents(text))
            try:
                if doc >= len(documents):
                    return 1, 1
                line, col = documents.position(doc, loc, key=key)
                return line + 1, col + 1
            except yaml.YAMLError:
                self._ruamel[path] = parse_all(text, path)[0]
        docs = self._ruamel[path]
        if doc >= len(docs):
            return 1, 1
        line, col = position(docs[doc], loc, key=key)
        return line + 1, col + 1


def _read(path: Path) -> tuple[str | None, Problem | None]:
    try:
        return path.read_text(encoding="utf-8"), None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return None, Problem(str(path), 1, 1, f"cannot read: {reason}")


def _documents(text: str, path: str, problems: list[Problem]) -> list[Any] | None:
    """The stream's documents from the fast parsers; what they refuse, ruamel (the reference
    reader, as for playbooks) words and positions."""
    try:
        return fastyaml.load_all(text)
    except fastyaml.Refused as error:
        refused = str(error)
    _, found = parse_all(text, path)
    if found:
        problems.extend(found)
        return None
    try:  # ruamel reads what yaml-rs refused: read it as libyaml does
        return fastyaml.load_all_libyaml(text)
    except yaml.YAMLError:
        problems.append(Problem(path, 1, 1, f"invalid YAML: {refused.splitlines()[0]}"))
        return None


def _add_text(merged: Merged, text: str, path: str, problems: list[Problem]) -> None:
    docs = _documents(text, path, problems)
    if docs is None:
        return
    for index, doc in enumerate(docs):
        if doc is None:  # an empty document keeps its number (positions are by number)
            continue
        if backstage.is_backstage(doc):
            backstage.add_document(merged, path, index, doc)
        elif isinstance(doc, dict):
            for key, entities in doc.items():
                if key not in NATIVE_KEYS:
                    merged.findings.append(
                        (Origin(path, index), (key, "[key]"), _unknown_top(str(key)))
                    )
                elif not isinstance(entities, list):
                    merged.findings.append(
                        (Origin(path, index), (key,), f"{key}: Input should be a valid list")
                    )
                else:
                    for j, entity in enumerate(entities):
                        merged.add(key, entity, Origin(path, index, (key, j)))
        else:
            problems.append(
                Problem(
                    path,
                    1,
                    1,
                    "a catalog is a mapping with teams: and services:, "
                    "or Backstage descriptors (apiVersion: backstage.io/v1alpha1)",
                )
            )


def _unknown_top(key: str) -> str:
    hint = did_you_mean(key, NATIVE_KEYS) or " Allowed: " + ", ".join(NATIVE_KEYS)
    return f"unknown key '{key}'.{hint}"


def load_sources(spec: str | Path) -> tuple[Catalog | None, list[Problem]]:
    """The catalog from every source, or (None, every problem found)."""
    # Building ~100,000 new objects makes the cyclic GC rescan them again and again (about
    # half the load time of a big catalog); none of them forms a cycle, so pause it meanwhile.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _load_sources(spec)
    finally:
        if paused:
            gc.enable()


def _load_sources(spec: str | Path) -> tuple[Catalog | None, list[Problem]]:
    paths, problems = catalog_paths(spec)
    merged = Merged()
    texts: dict[str, str] = {}
    for path in paths:
        text, problem = _read(path)
        if problem is not None:
            problems.append(problem)
            continue
        texts[str(path)] = text  # type: ignore[assignment]
        _add_text(merged, text, str(path), problems)  # type: ignore[arg-type]
    backstage.link_members(merged)
    where = _Positions(texts)
    for origin, loc, message in merged.findings:
        key = loc[-1:] == ("[key]",)
        line, col = where.at(origin.path, origin.doc, loc[:-1] if key else loc, key=key)
        problems.append(Problem(origin.path, line, col, message))
    try:
        catalog = Catalog.model_validate(merged.data)
    except ValidationError as error:
        problems.extend(_validation(error, merged, where))
        return None, _sorted(problems)
    for finding in check_catalog(catalog):
        problems.append(_locate(merged, where, finding.loc, finding.message))
    problems.extend(_attach_calendars(catalog, merged, where))
    if problems:
        return None, _sorted(problems)
    return catalog, []


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(dict.fromkeys(problems), key=lambda p: (p.path, p.line, p.col))


def _origin(merged: Merged, loc: Loc) -> tuple[Origin, Loc] | None:
    if len(loc) >= 2 and loc[0] in merged.origins and isinstance(loc[1], int):
        origins = merged.origins[str(loc[0])]
        if loc[1] < len(origins):
            return origins[loc[1]], loc[2:]
    return None


def _locate(
    merged: Merged, where: _Positions, loc: Loc, message: str, *, key: bool = False
) -> Problem:
    found = _origin(merged, loc)
    if found is None:
        return Problem("<catalog>", 1, 1, f"{dotted(loc)}: {message}")
    origin, rest = found
    doc_loc = origin.to_doc(rest)
    line, col = where.at(origin.path, origin.doc, doc_loc, key=key)
    return Problem(origin.path, line, col, f"{dotted(doc_loc)}: {message}")


def _validation(error: ValidationError, merged: Merged, where: _Positions) -> list[Problem]:
    # The messages as playbook lint words them (positions come from our own mapping below).
    worded = validation_problems("", None, error, Catalog)
    problems = []
    for item, text in zip(error.errors(), worded, strict=True):
        loc = tuple(item["loc"])
        key = item["type"] == "extra_forbidden"
        found = _origin(merged, loc)
        if found is None:
            problems.append(Problem("<catalog>", 1, 1, text.message))
            continue
        origin, rest = found
        doc_loc = origin.to_doc(rest)
        line, col = where.at(origin.path, origin.doc, doc_loc, key=key)
        message = text.message.replace(dotted(loc), dotted(doc_loc), 1)
        if key:
            message = message.replace(dotted(loc[:-1]), dotted(origin.to_doc(rest[:-1])), 1)
        problems.append(Problem(origin.path, line, col, message))
    return problems


def _attach_calendars(catalog: Catalog, merged: Merged, where: _Positions) -> list[Problem]:
    problems = []
    for i, team in enumerate(catalog.teams):
        if not team.calendar:
            continue
        origin = merged.origins["teams"][i]
        path = Path(origin.path).parent / team.calendar
        try:
            catalog.set_calendar(team.name, IcsCalendar.read(path))
        except CalendarError as error:
            at = _locate(merged, where, ("teams", i, "calendar"), "")
            problems.append(
                Problem(
                    str(path),
                    1,
                    1,
                    f"{error} (the calendar of team '{team.name}', {at.path}:{at.line}:{at.col})",
                )
            )
    return problems


# -- the names the rest of warroom has always called -------------------------------------------


def load_catalog_text(text: str, path: str = "<catalog>") -> tuple[Catalog | None, list[Problem]]:
    merged = Merged()
    problems: list[Problem] = []
    _add_text(merged, text, path, problems)
    if problems:
        return None, problems
    backstage.link_members(merged)
    where = _Positions({path: text})
    for origin, loc, message in merged.findings:
        key = loc[-1:] == ("[key]",)
        line, col = where.at(origin.path, origin.doc, loc[:-1] if key else loc, key=key)
        problems.append(Problem(origin.path, line, col, message))
    try:
        catalog = Catalog.model_validate(merged.data)
    except ValidationError as error:
        return None, _sorted(problems + _validation(error, merged, where))
    problems += [_locate(merged, where, f.loc, f.message) for f in check_catalog(catalog)]
    return (None, _sorted(problems)) if problems else (catalog, [])


def check_catalog_file(path: str | Path) -> tuple[Catalog | None, list[Problem]]:
    return load_sources(path)


class CatalogErrors(PlaybookErrors):
    what = "catalog"


def load_catalog(path: str | Path) -> Catalog:
    """The catalog, or CatalogErrors listing every problem (the bot will not start)."""
    catalog, problems = load_sources(path)
    if catalog is None:
        raise CatalogErrors(problems)
    return catalog
