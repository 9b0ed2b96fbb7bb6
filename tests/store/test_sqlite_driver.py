"""bot/store/sqlite_driver.py: aiosqlite with one thread hand-off per statement. What
SQLAlchemy reads back (rows, RETURNING, row counts, last row ids, executemany, errors) is
what the stock aiosqlite driver gives, and a statement costs one trip to the thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError
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


async def test_one_hand_off_per_statement(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/count.db")
    trips: list[object] = []

    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)
    async with engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        queue = raw._tx
        real_put = queue.put_nowait

        class Counting:  # a recording stand-in for the queue's put
            def put_nowait(self, item: Any) -> None:
                trips.append(item)
                real_put(item)

            def __getattr__(self, name: str) -> Any:
                return getattr(queue, name)

        raw._tx = Counting()
        try:
            for n in range(5):
                await conn.execute(insert(T).values(name=f"n{n}"))
            rows = (await conn.execute(select(T.c.name))).all()
        finally:
            raw._tx = queue
    await engine.dispose()
    assert len(rows) == 5
    assert len(trips) == 6  # five INSERTs and a SELECT; aiosqlite makes 3 to 4 trips each
