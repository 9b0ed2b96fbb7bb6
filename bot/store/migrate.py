"""Alembic, driven from code: `warroom db upgrade`, and at the start of `run` and `console`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.shipped import migrations_dir

if TYPE_CHECKING:  # Alembic is imported when used: commands that only read never need it
    from alembic.config import Config

# Inside the installed package, or beside bot/ in a source checkout (see bot/shipped.py).
MIGRATIONS = migrations_dir()

# Any constant works; it only has to be the same for every warroom process on one database.
_PG_LOCK_KEY = 0x57A12004


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    if not (MIGRATIONS / "env.py").exists():
        raise FileNotFoundError(
            f"migrations not found at {MIGRATIONS}: this installation of warroom is "
            "incomplete; reinstall it (pip install warroom, or pip install . from a checkout)"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def _upgrade(connection: Connection, revision: str, downgrade: bool = False) -> None:
    if connection.dialect.name == "postgresql":
        # Several replicas may start at once; only one migrates, the others wait and then
        # find nothing to do. The lock ends with this transaction.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    if downgrade:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head", *, downgrade: bool = False) -> None:
    """Migrate to `revision` (downgrade=True to go back, e.g. to "base" in tests)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision, downgrade)


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)
