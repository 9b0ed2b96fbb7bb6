"""The migrations are the only way the schema changes, and they build exactly the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bot.store import migrate
from bot.store.sql import make_engine
from bot.store.tables import metadata


def _diff(connection):  # type: ignore[no-untyped-def]
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_migrations_match_the_models(backend: str, request: pytest.FixtureRequest) -> None:
    engine = make_engine(request.getfixturevalue(f"{backend}_url"))
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"incident", "timeline_event", "task", "processed_request"} <= tables
        # Running it again is a no-op (every start of `run` does this).
        await migrate.upgrade(engine)
        head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
        assert await migrate.current_revision(engine) == head
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_downgrade_to_base_and_back(backend: str, request: pytest.FixtureRequest) -> None:
    engine = make_engine(request.getfixturevalue(f"{backend}_url"))
    try:
        await migrate.upgrade(engine)
        await migrate.upgrade(engine, "base", downgrade=True)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert tables <= {"alembic_version"}
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()
