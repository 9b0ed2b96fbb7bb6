"""Ids of a multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING (id, key), matched back to
the items inserted without asking SQLAlchemy for RETURNING in parameter order (on SQLite that
makes it insert one row per statement)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def ids_in_order(rows: Iterable[Sequence[Any]], keys: Sequence[str | None]) -> list[int | None]:
    """The id of each item, in the items' order (`keys`: each one's key, or None). A keyed
    item matches its row by key, and is None when the row was skipped (the key was there
    already); keyless items are never skipped and take the other ids in insertion order."""
    returned = list(rows)
    by_key = {key: id_ for id_, key in returned if key is not None}
    keyless = iter(sorted(id_ for id_, key in returned if key is None))
    return [next(keyless) if key is None else by_key.pop(key, None) for key in keys]
