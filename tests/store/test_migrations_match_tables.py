"""Migrations at head produce exactly the schema bot/store/tables.py declares."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from bot.store import migrate
from bot.store.sql import SqlStore
from bot.store.tables import metadata


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_no_drift_after_upgrade(backend: str, request: pytest.FixtureRequest) -> None:
    store = SqlStore.from_url(request.getfixturevalue(f"{backend}_url"))
    try:
        await migrate.upgrade(store.engine)
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
        assert await migrate.current_revision(store.engine) == head
    finally:
        await store.close()


async def test_ticker_starts_and_stops_on_the_running_loop() -> None:
    from bot.core.clock import SystemClock
    from bot.schedule.ticker import Ticker
    from bot.store.reminders import MemoryReminders

    async def fire(reminder: object) -> None:
        raise AssertionError("nothing is due")

    ticker = Ticker(MemoryReminders(), fire, SystemClock(), name="t")
    ticker.start(interval=3600)
    assert ticker._scheduler is not None and ticker._scheduler.get_job("reminder-ticker")
    ticker.stop()
    assert ticker._scheduler is None
