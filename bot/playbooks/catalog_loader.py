"""Load the service catalog (WARROOM_CATALOG) with positions for `file:line:col` problems."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from bot.core.catalog import Catalog, check_catalog
from bot.playbooks.loader import PlaybookErrors
from bot.playbooks.yamlpos import Problem, located, parse, plain, validation_problems


def load_catalog_text(text: str, path: str = "<catalog>") -> tuple[Catalog | None, list[Problem]]:
    root, problems = parse(text, path, "a catalog is a mapping with teams: and services:")
    if root is None:
        return None, problems
    try:
        catalog = Catalog.model_validate(plain(root))
    except ValidationError as error:
        return None, validation_problems(path, root, error, Catalog)
    problems = [located(path, root, f.loc, f.message) for f in check_catalog(catalog)]
    if problems:
        return None, sorted(problems, key=lambda p: (p.line, p.col))
    return catalog, []


def check_catalog_file(path: str | Path) -> tuple[Catalog | None, list[Problem]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return None, [Problem(str(path), 1, 1, f"cannot read: {reason}")]
    return load_catalog_text(text, str(path))


class CatalogErrors(PlaybookErrors):
    what = "catalog"


def load_catalog(path: str | Path) -> Catalog:
    """The catalog, or CatalogErrors listing every problem (the bot will not start)."""
    catalog, problems = check_catalog_file(path)
    if catalog is None:
        raise CatalogErrors(problems)
    return catalog
