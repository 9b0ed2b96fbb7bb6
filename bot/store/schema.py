"""Open a store whose schema is at head, cheaply when it already is.

Importing Alembic costs more than a whole `warroom export` should take, and almost every
start finds the schema current. So the head revision is read from the migration files'
`revision = ...` / `down_revision = ...` lines, the database's from `alembic_version`, and
Alembic is imported only when they differ (or the files cannot be read that simply)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.store.sql import SqlStore

_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)
_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")


def head_revision(versions: Path) -> str | None:
    """The one revision no other migration revises, or None when that is not plain to see
    (several heads, a file without a literal revision): then ask Alembic."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in versions.glob("*.py"):
        found = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        revision = _QUOTED.fullmatch(found.get("revision", ""))
        if revision is None:
            return None
        revisions.add(revision.group(1))
        revised.update(_QUOTED.findall(found.get("down_revision", "")))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


async def database_revision(store: SqlStore) -> str | None:
    """What alembic_version says, or None for a database without one (a new database)."""
    try:
        async with store.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except DBAPIError:  # no such table
        return None
    return rows[0][0] if len(rows) == 1 else None


async def is_at_head(store: SqlStore, versions: Path) -> bool:
    head = head_revision(versions)
    return head is not None and await database_revision(store) == head


async def open_store(url: str) -> SqlStore:
    """Connect and bring the schema to head (idempotent; locked on Postgres)."""
    from bot.store import migrate  # Alembic only when there may be something to do

    store = SqlStore.from_url(url)
    try:
        if not await is_at_head(store, migrate.MIGRATIONS / "versions"):
            await migrate.upgrade(store.engine)
    except BaseException:
        await store.close()
        raise
    return store
