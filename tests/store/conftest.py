"""Fixtures of the store's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store import migrate
from bot.store.sql import SqlStore


@pytest.fixture
async def pg_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """The engine of a migrated store on a Postgres database of the test's own."""
    store = SqlStore.from_url(postgres_url)
    await migrate.upgrade(store.engine)
    try:
        yield store.engine
    finally:
        await store.close()
