"""10,000 due reminders: time until all are fired (timeline events and outbox rows committed)
and until all are posted to a recording fake chat, with one or two replicas, against the floor:
the very statements that run recorded, then replayed through the raw driver (sqlite3 /
asyncpg) in commit order on one connection, in the same run.

    python bench/reminders.py [--count 10000] [--incidents 100] [--replicas 1,2]
                              [--rounds 3] [--deliver during|after|none]
                              [--url postgresql+asyncpg://user@host/db]

Budget (issue #13): 10,000 due reminders fired in under 10 s. `--deliver during` runs the
outbox workers while the reminders fire, as in production; `after` starts them once all have
fired; `none` measures firing alone. Each round uses a database of its own (a temporary SQLite
file; with --url, a scratch database on that server, dropped afterwards). Each replica has its
own engine, as separate processes would. Prints a table, then the same figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, select
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's bot
sys.path.insert(0, str(ROOT / "bench"))  # scratch.py

import scratch  # noqa: E402

from bot.app import App, build_app  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.core.model import Change, Incident, RoleAssignment, Severity, State  # noqa: E402
from bot.core.ports import Channel  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import migrate  # noqa: E402
from bot.store.outbox import PENDING  # noqa: E402
from bot.store.reminders import R  # noqa: E402
from bot.store.sql import EV, SqlStore  # noqa: E402

PLATFORM = "bench"
TICK = "bench-tick"  # the name of the tasks that run the tickers
# Fixed, long past: the setup of the floor's database must match the recorded run's exactly.
BASE = datetime(2026, 1, 1, tzinfo=UTC)


class RecordingChat:
    """A chat that records what it is asked to do and answers at once (the bench measures
    warroom, not a platform)."""

    platform = PLATFORM

    def __init__(self, expected: int) -> None:
        self.posts: list[tuple[str, str]] = []
        self.expected = expected
        self.all_posted = asyncio.Event()

    async def post(self, channel_id: str, text: str) -> str:
        self.posts.append((channel_id, text))
        if len(self.posts) >= self.expected:
            self.all_posted.set()
        return f"m{len(self.posts)}"

    async def create_channel(self, name: str, *, private: bool) -> Channel:
        return Channel(f"C{name}", name)

    async def invite(self, channel: Channel, users: Sequence[str]) -> None: ...

    async def set_topic(self, channel: Channel, topic: str) -> None: ...

    async def update(self, channel_id: str, message_id: str, text: str) -> str | None:
        return None

    async def pin(self, channel_id: str, message_id: str) -> None: ...

    async def post_checklist(self, channel_id: str, incident: Any, tasks: list[Any]) -> str:
        return await self.post(channel_id, "checklist")

    async def update_checklist(self, *args: Any) -> str | None:
        return None

    async def upload(self, *args: Any) -> None: ...

    def channel_link(self, channel: Channel) -> str:
        return f"#{channel.name}"

    async def send_page(self, user: str, incident: Any, text: str) -> str:
        return await self.post(f"dm:{user}", text)


@dataclass
class FakePlatform:
    chat: RecordingChat

    def routes(self) -> list[Any]:
        return []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Recording:
    """Every statement of a run, grouped by transaction, in commit order."""

    # (the ticker's or not, the statements): a transaction is the ticker's if its task is.
    transactions: list[tuple[bool, list[tuple[str, Any, bool]]]] = field(default_factory=list)
    _open: dict[int, tuple[bool, list[tuple[str, Any, bool]]]] = field(default_factory=dict)

    def attach(self, engine: Any) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def _execute(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if id(conn) not in self._open:
                task = asyncio.current_task()
                self._open[id(conn)] = (bool(task and task.get_name() == TICK), [])
            self._open[id(conn)][1].append((statement, parameters, executemany))

        @event.listens_for(engine, "commit")
        def _commit(conn):  # type: ignore[no-untyped-def]
            self._close(conn, keep=True)

        @event.listens_for(engine, "rollback")
        def _rollback(conn):  # type: ignore[no-untyped-def]
            self._close(conn, keep=True)

    def _close(self, conn: Any, *, keep: bool) -> None:
        opened = self._open.pop(id(conn), None)
        if opened and keep:
            self.transactions.append(opened)

    @property
    def statements(self) -> int:
        return sum(len(t) for _, t in self.transactions)


@contextlib.contextmanager
def scratch_database(server: str | None, folder: str) -> Iterator[str]:
    """A database of the round's own: a new SQLite file, or a new database on the Postgres
    server, dropped afterwards."""
    with scratch.scratch_database(
        server or f"sqlite+aiosqlite:///{folder}/{uuid.uuid4().hex[:8]}.db"
    ) as url:
        yield url


async def set_up(url: str, count: int, incidents: int) -> None:
    """Incidents with channels and a commander, and `count` reminders due long ago (half of
    them mention the commander, resolved when they fire)."""
    store = SqlStore.from_url(url)
    await migrate.upgrade(store.engine)
    try:
        for n in range(incidents):
            incident = await store.create_incident(
                Incident(0, f"bench {n}", Severity.SEV3, State.INVESTIGATING, BASE, "b", PLATFORM)
            )
            incident.channel_id, incident.channel_name = f"C{n:05d}", f"inc-{n}"
            role = RoleAssignment(incident.number, "commander", f"user{n}", BASE, "b")
            await store.commit(Change(incident=incident, roles=[role]))
        rows = [
            {
                "incident_number": 1 + i % incidents,
                "kind": "remind",
                "due_at": BASE + timedelta(milliseconds=i),
                "text": f"reminder {i:05d}",
                "target": "role:commander" if i % 2 else None,
                "data": {},
                "state": "pending",
            }
            for i in range(count)
        ]
        async with store.engine.begin() as conn:
            await conn.execute(insert(R), rows)
    finally:
        await store.close()


async def replica(url: str, folder: str, chat: RecordingChat, recording: Recording | None) -> App:
    settings = Settings(
        database_url=url,
        playbooks=f"{folder}/no-playbooks",  # an empty library: reminders only
        journal=f"{folder}/journal-{uuid.uuid4().hex[:6]}.jsonl",
        _env_file=None,
    )
    app = await build_app(settings, clock=SystemClock())
    if recording is not None:
        recording.attach(app.store.engine.sync_engine)
        if app.store._reader is not None:
            recording.attach(app.store._reader)
    app.add_platform(FakePlatform(chat))  # type: ignore[arg-type]
    return app


@dataclass
class Run:
    fired: float
    posted: float | None  # None: not delivered (--deliver none)
    floor_fired: float  # the ticker's transactions replayed
    floor_posted: float | None  # every transaction replayed (the outbox's too)
    statements: int
    transactions: int


async def one_round(
    server: str | None, folder: str, count: int, incidents: int, n: int, deliver: str
) -> Run:
    with scratch_database(server, folder) as url:
        await set_up(url, count, incidents)
        chat = RecordingChat(count)
        recording = Recording()
        apps = [await replica(url, folder, chat, recording) for _ in range(n)]
        posted: float | None = None
        try:
            workers = [app.outbox for app in apps if app.outbox is not None]
            if deliver == "during":
                for worker in workers:
                    worker.start()
            else:
                for app in apps:  # not even inline (kick() delivers when not started)
                    app.ticker.woke = None  # type: ignore[union-attr]
            started = time.perf_counter()
            ticks = [asyncio.create_task(app.ticker.tick(), name=TICK) for app in apps]  # type: ignore[union-attr]
            fired_counts = await asyncio.gather(*ticks)
            fired = time.perf_counter() - started
            if deliver == "after":
                for worker in workers:
                    worker.start()
            if deliver != "none":
                await asyncio.wait_for(chat.all_posted.wait(), 600)
                posted = time.perf_counter() - started
            # The last deliveries' finishing commits follow the posts by a moment.
            for _ in range(600):
                pending = await apps[0].outbox.outbox.count(PENDING)  # type: ignore[union-attr]
                if not pending or deliver == "none":
                    break
                await asyncio.sleep(0.1)
            async with apps[0].store.engine.connect() as conn:
                events = (
                    await conn.execute(
                        select(func.count()).select_from(EV).where(EV.c.kind == "reminder")
                    )
                ).scalar_one()
        finally:
            for app in apps:
                await app.close()
        assert sum(fired_counts) == count, fired_counts
        assert events == count, events
        if deliver == "none":
            assert pending == count, pending  # one outbox row per reminder, none delivered
        else:
            texts = Counter(t for _, t in chat.posts)
            assert len(texts) == count and set(texts.values()) == {1}, "a reminder posted twice"
            assert pending == 0, pending
            mentions = sum(t.startswith("@user") for _, t in chat.posts)
            assert mentions == count // 2, mentions
    with scratch_database(server, folder) as url:
        await set_up(url, count, incidents)
        floor_fired, floor_all = await replay(url, recording)
    return Run(
        fired,
        posted,
        floor_fired,
        floor_all if deliver != "none" else None,
        recording.statements,
        len(recording.transactions),
    )


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def _cell(value: float | None, width: int) -> str:
    return f"{value:{width}.2f}" if value is not None else f"{'-':>{width}}"


def _rows(parameters: Any) -> bool:
    """An executemany's parameters are rows; SQLAlchemy's "insertmanyvalues" batches are
    announced as executemany too, with one flat row of parameters."""
    return bool(parameters) and isinstance(parameters[0], (list, tuple, dict))


async def replay(url: str, recording: Recording) -> tuple[float, float]:
    """The recorded statements through the raw driver, in commit order, on one connection:
    (time in the ticker's transactions, time in all)."""
    parsed = make_url(url)
    ticker = total = 0.0
    if parsed.drivername.startswith("sqlite"):
        conn = sqlite3.connect(parsed.database or "")
        conn.execute("PRAGMA foreign_keys=ON")
        for tick, statements in recording.transactions:
            started = time.perf_counter()
            cursor = conn.cursor()
            for statement, parameters, many in statements:
                if many and _rows(parameters):
                    cursor.executemany(statement, parameters)
                else:
                    cursor.execute(statement, parameters)
                    cursor.fetchall()
            conn.commit()
            elapsed = time.perf_counter() - started
            total += elapsed
            ticker += elapsed if tick else 0.0
        conn.close()
        return ticker, total
    import asyncpg

    raw = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
    )
    try:
        for tick, statements in recording.transactions:
            started = time.perf_counter()
            async with raw.transaction():
                for statement, parameters, many in statements:
                    if many and _rows(parameters):
                        await raw.executemany(statement, parameters)
                    else:
                        await raw.fetch(statement, *parameters)
            elapsed = time.perf_counter() - started
            total += elapsed
            ticker += elapsed if tick else 0.0
        return ticker, total
    finally:
        await raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--replicas", default="1,2", help="comma-separated, e.g. 1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="a Postgres server URL (scratch databases are made on it)")
    parser.add_argument(
        "--deliver",
        choices=["during", "after", "none"],
        default="during",
        help="run the outbox workers while reminders fire (as in production), only after, "
        "or not at all (fired only)",
    )
    args = parser.parse_args()
    backend = "postgres" if args.url else "sqlite"
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for n in [int(x) for x in args.replicas.split(",")]:
            runs = [
                asyncio.run(
                    one_round(args.url, folder, args.count, args.incidents, n, args.deliver)
                )
                for _ in range(args.rounds)
            ]
            results.append(
                {
                    "backend": backend,
                    "replicas": n,
                    "deliver": args.deliver,
                    "reminders": args.count,
                    "incidents": args.incidents,
                    "rounds": args.rounds,
                    "fired_s": statistics.median(r.fired for r in runs),
                    "posted_s": _median([r.posted for r in runs]),
                    "floor_fired_s": statistics.median(r.floor_fired for r in runs),
                    "floor_posted_s": _median([r.floor_posted for r in runs]),
                    "fired_s_all": [round(r.fired, 3) for r in runs],
                    "posted_s_all": [_round(r.posted) for r in runs],
                    "floor_fired_s_all": [round(r.floor_fired, 3) for r in runs],
                    "floor_posted_s_all": [_round(r.floor_posted) for r in runs],
                    "statements": statistics.median(r.statements for r in runs),
                    "transactions": statistics.median(r.transactions for r in runs),
                    "budget_fired_s": 10.0,
                }
            )
    print(f"outbox delivery {args.deliver} firing")
    print(
        f"{'backend':9} {'replicas':>8} {'fired s':>8} {'floor':>7} {'posted s':>9} "
        f"{'floor':>7} {'statements':>10} {'txs':>6}"
    )
    for r in results:
        print(
            f"{r['backend']:9} {r['replicas']:8d} {r['fired_s']:8.2f} {r['floor_fired_s']:7.2f} "
            f"{_cell(r['posted_s'], 9)} {_cell(r['floor_posted_s'], 7)} "
            f"{r['statements']:10.0f} {r['transactions']:6.0f}"
        )
    print("fired: every reminder's event and outbox row committed; posted: all delivered to")
    print("the fake chat; floor: the same statements through the raw driver, same run.")
    print(f"(median of {args.rounds} rounds; load average {os.getloadavg()[0]:.2f})")
    print(json.dumps({"load_average": os.getloadavg()[0], "results": results}))


if __name__ == "__main__":
    main()
