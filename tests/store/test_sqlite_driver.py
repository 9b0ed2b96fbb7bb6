"""bot/store/sqlite_driver.py: SQLite on the event loop behind aiosqlite's interface. What
SQLAlchemy reads back (rows, RETURNING, row counts, last row ids, executemany, errors) is
what the stock aiosqlite driver gives; no thread is started; writers of one process wait
for each other on an asyncio lock instead of in SQLite's busy handler on the loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.store import sqlite_driver
from bot.store.sql import make_engine

META = MetaData()
T = Table("t", META, Column("id", Integer, primary_key=True), Column("name", String, unique=True))


async def _exercise(engine: AsyncEngine) -> list[Any]:
    seen: list[Any] = []
    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)
        result = await conn.execute(insert(T).values(name="a"))
        seen.append(result.inserted_primary_key)
        seen.append((await conn.execute(insert(T).values(name="b").returning(T.c.id))).all())
        many = await conn.execute(insert(T), [{"name": "c"}, {"name": "d"}, {"name": "e"}])
        seen.append(many.rowcount)
        seen.append(
            (
                await conn.execute(
                    insert(T).returning(T.c.id, T.c.name), [{"name": "f"}, {"name": "g"}]
                )
            ).all()
        )
        changed = await conn.execute(update(T).where(T.c.id > 5).values(name=T.c.name + "!"))
        seen.append(changed.rowcount)
        seen.append((await conn.execute(select(T).order_by(T.c.id))).all())
        seen.append((await conn.execute(select(T).where(T.c.id == 99))).first())
        streamed = await conn.stream(select(T.c.name).order_by(T.c.id))
        seen.append([row async for row in streamed])
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(T).values(name="a"))
    async with engine.connect() as conn:  # the failed transaction left nothing behind
        seen.append((await conn.execute(text("SELECT count(*) FROM t"))).scalar_one())
    await engine.dispose()
    return seen


async def test_reads_back_what_aiosqlite_does(tmp_path: Path) -> None:
    stock = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/stock.db")
    ours = make_engine(f"sqlite+aiosqlite:///{tmp_path}/ours.db")
    assert isinstance(ours.dialect.dbapi, type(sqlite_driver.dbapi()))
    assert ours.dialect.dbapi.driver.Connection is sqlite_driver.Connection
    assert await _exercise(ours) == await _exercise(stock)


async def test_statements_run_on_the_loop_and_commits_on_a_worker_thread(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/threads.db")
    loop_thread = threading.get_ident()
    seen: dict[str, int] = {}

    @event.listens_for(engine.sync_engine, "connect")
    def _whoami(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("whoami", 0, threading.get_ident)

    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)
    async with engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection._conn

        def traced(sql: str) -> None:  # SQLite's own trace: called on the executing thread
            seen.setdefault(sql.split()[0].upper(), threading.get_ident())

        raw.set_trace_callback(traced)
        await conn.execute(insert(T).values(name="x"))
        seen["whoami"] = (await conn.execute(text("SELECT whoami()"))).scalar_one()
    raw.set_trace_callback(None)
    await engine.dispose()
    assert seen["INSERT"] == seen["SELECT"] == seen["whoami"] == loop_thread
    assert seen["COMMIT"] != loop_thread


async def test_a_second_writer_waits_for_the_first_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/writers.db")
    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)
    first_wrote, first_may_commit = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(T).values(name="first"))
            first_wrote.set()
            await first_may_commit.wait()  # suspended mid-transaction, holding the lock
            order.append("first commits")

    async def second() -> None:
        await first_wrote.wait()
        async with engine.begin() as conn:
            await conn.execute(insert(T).values(name="second"))
            order.append("second wrote")

    async def reader() -> None:
        await first_wrote.wait()
        async with engine.connect() as conn:  # readers never wait (WAL)
            names = (await conn.execute(select(T.c.name))).scalars().all()
        order.append(f"read {names}")
        first_may_commit.set()

    await asyncio.gather(first(), second(), reader())
    assert order == ["read []", "first commits", "second wrote"]
    async with engine.connect() as conn:
        names = (await conn.execute(select(T.c.name).order_by(T.c.id))).scalars().all()
    assert names == ["first", "second"]
    await engine.dispose()


async def test_a_writer_kept_waiting_too_long_is_told_the_database_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/locked.db")
    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)
    monkeypatch.setattr(sqlite_driver, "LOCK_TIMEOUT", 0)  # "too long" is at once
    async with engine.begin() as holder:
        await holder.execute(insert(T).values(name="held"))
        with pytest.raises(OperationalError, match="database is locked"):
            async with engine.begin() as conn:
                await conn.execute(insert(T).values(name="waits"))
    async with engine.begin() as conn:  # the lock was given back by both
        await conn.execute(insert(T).values(name="after"))
    await engine.dispose()


async def _beside(conn: Any, seen: list[str]) -> None:
    """Ask for the coming commit's `under_way` and `committed` calls, as the session does."""

    def under_way() -> None:
        seen.append("under way")

    def committed() -> None:
        seen.append("committed")

    assert sqlite_driver.while_committing(conn, under_way, committed)


async def test_a_commit_beside_the_loop_says_when_it_began_and_when_it_is_on_disk(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/beside.db")
    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)
    seen: list[str] = []
    conn = await engine.connect()
    async with conn.begin():
        await conn.execute(insert(T).values(name="x"))
        await _beside(conn, seen)
        seen.append("commit asked")
    seen.append("commit returned")
    await conn.close()
    # `committed` comes before the commit's unwinding through SQLAlchemy has returned.
    assert seen == ["commit asked", "under way", "committed", "commit returned"]
    async with engine.connect() as other:
        assert (await other.execute(select(T.c.name))).scalars().all() == ["x"]
    await engine.dispose()


async def test_a_commit_the_database_refuses_fails_says_nothing_committed_and_the_next_commits(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/refused.db")
    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)
        await conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await conn.exec_driver_sql(
            "CREATE TABLE child (ref INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )

    @event.listens_for(engine.sync_engine, "connect")
    def _keys(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    await engine.dispose()  # (the next connections check foreign keys)
    seen: list[str] = []
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        async with engine.begin() as conn:
            await conn.execute(insert(T).values(name="lost"))
            await conn.exec_driver_sql("INSERT INTO child (ref) VALUES (42)")  # checked at COMMIT
            await _beside(conn, seen)
    assert seen == ["under way"]  # never "committed"
    async with engine.begin() as conn:  # the commit thread goes on with the next one
        await conn.execute(insert(T).values(name="kept"))
    async with engine.connect() as conn:
        assert (await conn.execute(select(T.c.name))).scalars().all() == ["kept"]
    await engine.dispose()


def test_a_commit_thread_outlives_the_loops_it_served(tmp_path: Path) -> None:
    # Tests and CLI commands run one event loop after another; the one commit thread serves
    # them all, each loop closed after its commits.
    async def write(name: str) -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/loops.db")
        async with engine.begin() as conn:
            await conn.run_sync(META.create_all)
            await conn.execute(insert(T).values(name=name))
        await engine.dispose()

    for name in ("first", "second", "third"):
        asyncio.run(write(name))

    async def names() -> list[str]:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/loops.db")
        async with engine.connect() as conn:
            found = (await conn.execute(select(T.c.name).order_by(T.c.id))).scalars().all()
        await engine.dispose()
        return list(found)

    assert asyncio.run(names()) == ["first", "second", "third"]


async def test_at_exit_the_commit_thread_ends_and_a_later_commit_starts_it_again(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/exit.db")
    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)
        await conn.execute(insert(T).values(name="before"))
    committer = sqlite_driver._COMMITTER
    thread = committer._thread
    assert thread is not None and thread.is_alive()
    committer.stop()  # what atexit calls
    assert not thread.is_alive()
    async with engine.begin() as conn:
        await conn.execute(insert(T).values(name="after"))
    async with engine.connect() as conn:
        names = (await conn.execute(select(T.c.name).order_by(T.c.id))).scalars().all()
    assert names == ["before", "after"]
    await engine.dispose()
