"""Shared fixtures. Stores come in three kinds (memory, SQLite, Postgres) and one contract
suite runs against all of them; Postgres tests need WARROOM_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.core.clock import ManualClock
from bot.store import migrate
from bot.store.memory import MemoryStore
from bot.store.sql import SqlStore

PG_ENV = "WARROOM_TEST_POSTGRES_URL"
_CALLER_PREFIXES = ("WARROOM_", "SLACK_", "MATTERMOST_")
_TEST_KNOBS = (
    PG_ENV,
    "WARROOM_UPDATE_GOLDEN",
    "WARROOM_REGENERATE_GOLDEN",
)  # the suite's own switches, not settings


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Whatever the caller exported or keeps in ./.env, every test starts from none of it: the
    settings variables are cleared (not the suite's own switches) and the working folder is an
    empty one of the test's own, so no .env, warroom.db or playbooks/ is picked up by chance."""
    for name in list(os.environ):
        if name.startswith(_CALLER_PREFIXES) and name not in _TEST_KNOBS:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    # Caches (the postmortem template's code) go to the run's own folder, not the caller's.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


def _admin_url(url: str) -> str:
    # A sync URL for CREATE/DROP DATABASE, on the server's maintenance database.
    return (
        make_url(url)
        .set(drivername="postgresql+psycopg2", database="postgres")
        .render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set (e.g. postgresql+asyncpg://postgres@127.0.0.1/test)")
    return url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database of its own for one test, dropped afterwards."""
    name = f"warroom_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_admin_url(postgres_server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/warroom.db"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[object]:
    """Every Store implementation, migrated to head where it has a schema."""
    if request.param == "memory":
        yield MemoryStore()
        return
    url = request.getfixturevalue(f"{request.param}_url")
    sql = SqlStore.from_url(url)
    await migrate.upgrade(sql.engine)
    try:
        yield sql
    finally:
        await sql.close()
