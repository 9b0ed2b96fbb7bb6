"""The head revision of the migrations, read from the files without importing Alembic (or
SQLAlchemy): commands that only read check the database's `alembic_version` against it.

The head is the one revision no other migration revises, taken from the migration files'
`revision = ...` / `down_revision = ...` lines; None when that is not plain to see (several
heads, a file without a literal revision), and then the caller asks Alembic."""

from __future__ import annotations

import re
from pathlib import Path

_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)
_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")


def _read(versions: Path) -> tuple[set[str], set[str]] | None:
    """(every revision, every revision some migration revises), or None when a file has no
    literal revision."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in versions.glob("*.py"):
        found = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        revision = _QUOTED.fullmatch(found.get("revision", ""))
        if revision is None:
            return None
        revisions.add(revision.group(1))
        revised.update(_QUOTED.findall(found.get("down_revision", "")))
    return revisions, revised


def head_revision(versions: Path) -> str | None:
    read = _read(versions)
    if read is None:
        return None
    heads = read[0] - read[1]
    return heads.pop() if len(heads) == 1 else None


def known_revisions(versions: Path) -> set[str] | None:
    """Every revision the migrations know; None when that is not plain to see."""
    read = _read(versions)
    return read[0] if read is not None else None
