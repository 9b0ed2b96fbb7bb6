"""Timeline ingest throughput: batched ingest vs a commit per message vs a raw bulk insert.

    python bench/ingest.py [--messages N] [--url URL] [--burst B]

The budget (DESIGN.md): batched ingest runs at least half the speed of a raw bulk insert.
Prints messages per second for each way on the given database (a temporary SQLite by default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

# Measure this checkout's bot, not the one the virtualenv has installed (an editable install of
# another checkout would otherwise be timed instead).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.clock import SystemClock
from bot.core.ingest import IncomingMessage, TimelineIngest
from bot.core.model import Change, EventKind, Incident, Participant, Severity, State, TimelineEvent
from bot.store import migrate
from bot.store.sql import EV, SqlStore


@contextlib.contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """On Postgres, a database of the bench's own, dropped afterwards (never touch the
    server's existing databases); elsewhere the URL as given."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        yield url
        return
    name = f"warroom_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        parsed.set(drivername="postgresql+psycopg2", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def fresh_store(url: str) -> SqlStore:
    store = SqlStore.from_url(url)
    await migrate.upgrade(store.engine)
    return store


async def new_incident(store: SqlStore, channel: str) -> int:
    now = datetime.now(UTC)
    incident = await store.create_incident(
        Incident(0, "bench", Severity.SEV3, State.INVESTIGATING, now, "bench", "bench")
    )
    incident.channel_id = channel
    await store.commit(Change(incident=incident))
    return incident.number


async def raw_bulk(store: SqlStore, n: int, run: int) -> float:
    number = await new_incident(store, f"raw-{run}")
    now = datetime.now(UTC)
    rows = [
        dict(
            incident_number=number,
            occurred_at=now,
            recorded_at=now,
            kind="message",
            actor=f"u{i % 7}",
            text=f"message {i}",
            data={},
            source_key=f"raw:{run}:{i}",
        )
        for i in range(n)
    ]
    started = time.perf_counter()
    async with store.engine.begin() as conn:
        await conn.execute(insert(EV), rows)
    return time.perf_counter() - started


async def batched(store: SqlStore, n: int, run: int, burst: int) -> tuple[float, int]:
    """Messages arrive in bursts of `burst` at once (a busy channel, a flood of events)."""
    channel = f"batched-{run}"
    await new_incident(store, channel)
    ingest = TimelineIngest(store, SystemClock())
    started = time.perf_counter()
    for wave in range(0, n, burst):
        results = await asyncio.gather(
            *(
                ingest.add(
                    IncomingMessage(
                        "bench", channel, f"u{i % 7}", f"message {i}", None, f"b:{run}:{i}"
                    )
                )
                for i in range(wave, min(n, wave + burst))
            )
        )
        assert all(results)
    elapsed = time.perf_counter() - started
    await ingest.close()
    return elapsed, ingest.batches


async def per_message(store: SqlStore, n: int, run: int) -> float:
    number = await new_incident(store, f"each-{run}")
    started = time.perf_counter()
    for i in range(n):
        now = datetime.now(UTC)
        await store.commit(
            Change(
                events=[
                    TimelineEvent(
                        number,
                        EventKind.MESSAGE,
                        f"u{i % 7}",
                        f"message {i}",
                        now,
                        now,
                        source_key=f"e:{run}:{i}",
                    )
                ],
                participants=[Participant(number, f"u{i % 7}", now)],
            )
        )
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--burst", type=int, default=500, help="messages arriving at once")
    parser.add_argument("--url", default=None, help="database URL (default: temporary SQLite)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        scratch_database(args.url or f"sqlite+aiosqlite:///{folder}/bench.db") as url,
    ):
        store = await fresh_store(url)
        n = args.messages
        print(f"database: {store.engine.dialect.name}, {n} messages, best of {args.runs} runs")
        raw = min([await raw_bulk(store, n, r) for r in range(args.runs)])
        runs = [await batched(store, n, r, args.burst) for r in range(args.runs)]
        best, batches = min(runs)
        each = await per_message(store, min(n, 1000), 0) * (n / min(n, 1000))
        print(f"raw bulk insert (one executemany) : {n / raw:10.0f} msg/s")
        print(
            f"batched ingest (bursts of {args.burst})  : {n / best:10.0f} msg/s "
            f"in {batches} commits = {raw / best:.2f}x raw bulk (budget >= 0.50x)"
        )
        print(f"commit per message (extrapolated) : {n / each:10.0f} msg/s")
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
