"""Open a store whose schema is at head, cheaply when it already is.

Importing Alembic costs more than a whole `warroom export` should take, and almost every
start finds the schema current. So the head revision is read from the migration files
(bot/store/revision.py), the database's from `alembic_version`, and Alembic is imported only
when they differ (or the files cannot be read that simply)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.store.revision import head_revision, known_revisions
from bot.store.sql import SqlStore

__all__ = [
    "UnknownRevision",
    "database_revision",
    "head_revision",
    "is_at_head",
    "known_revisions",
    "open_store",
]


class UnknownRevision(Exception):
    """The database is at a revision no migration here knows: a newer warroom migrated it,
    and this one must neither use nor migrate it."""


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
    """Connect and bring the schema to head (idempotent; locked on Postgres). UnknownRevision
    for a database that a newer warroom migrated."""
    from bot.store import migrate  # Alembic only when there may be something to do

    versions = migrate.MIGRATIONS / "versions"
    store = SqlStore.from_url(url)
    try:
        current = await database_revision(store)
        if current is None or current != head_revision(versions):
            known = known_revisions(versions)
            if current is not None and known is not None and current not in known:
                raise UnknownRevision(
                    f"the database is at schema revision {current!r}, which this warroom "
                    "does not know: a newer warroom migrated it. Run that version (or "
                    "newer), or point WARROOM_DATABASE_URL at another database."
                )
            await migrate.upgrade(store.engine)
    except BaseException:
        await store.close()
        raise
    return store
