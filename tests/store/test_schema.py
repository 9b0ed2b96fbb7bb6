"""Opening a store: the schema check that needs no Alembic when the schema is current."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.store import migrate, schema
from bot.store.sql import SqlStore


def test_head_read_from_the_files_is_alembics_head() -> None:
    alembic_head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert schema.head_revision(migrate.MIGRATIONS / "versions") == alembic_head


def test_two_heads_or_an_unreadable_revision_mean_ask_alembic(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text("revision: str = 'b'\ndown_revision: str | None = 'a'\n")
    assert schema.head_revision(tmp_path) == "b"
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')
    assert schema.head_revision(tmp_path) is None  # b and c both revise a
    (tmp_path / "c.py").write_text("revision = make_id()\n")
    assert schema.head_revision(tmp_path) is None


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_open_store_migrates_a_new_or_old_database_and_then_only_reads(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    head = schema.head_revision(migrate.MIGRATIONS / "versions")
    store = await schema.open_store(url)  # a new database: no alembic_version at all
    try:
        assert await schema.database_revision(store) == head
        await migrate.upgrade(store.engine, "0003", downgrade=True)
        assert await schema.database_revision(store) == "0003"
    finally:
        await store.close()
    store = await schema.open_store(url)  # behind: upgraded
    try:
        assert await schema.database_revision(store) == head
        assert await schema.is_at_head(store, migrate.MIGRATIONS / "versions")
    finally:
        await store.close()


async def test_database_revision_of_an_empty_database_is_none(sqlite_url: str) -> None:
    store = SqlStore.from_url(sqlite_url)
    try:
        assert await schema.database_revision(store) is None
    finally:
        await store.close()


def test_known_revisions_are_every_migrations() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    expected = {rev.revision for rev in script.walk_revisions()}
    assert schema.known_revisions(migrate.MIGRATIONS / "versions") == expected


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_database_a_newer_warroom_migrated_is_refused_untouched(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    store = await schema.open_store(url)
    try:
        async with store.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    finally:
        await store.close()
    with pytest.raises(schema.UnknownRevision, match="revision '0099_future', which this warroom"):
        await schema.open_store(url)
    store = SqlStore.from_url(url)
    try:
        assert await schema.database_revision(store) == "0099_future"
    finally:
        await store.close()
