"""Timeline ingest throughput: batched ingest vs a commit per message vs a raw bulk insert;
with --http, signed Slack message events over HTTP against a bare Bolt app's acks.

    python bench/ingest.py [--messages N] [--url URL] [--burst B]
    python bench/ingest.py --http [--messages N] [--concurrency C] [--runs R] [--url URL]

The budgets (DESIGN.md, issue 13): batched ingest runs at least half the speed of a raw bulk
insert; over HTTP at least 2,000 message events/s are recorded. Prints messages per second
for each way on the given database (a temporary SQLite by default). --http runs the bot as
`warroom run` serves it (bench/slack_ack.py's servers, each in its own process), posts N
signed `message` events at C at once and counts the time until the last one is on the
timeline; the floor is the same events acknowledged by a bare Bolt app that records nothing.
It prints a table and one line of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

# Measure this checkout's bot, not the one the virtualenv has installed (an editable install of
# another checkout would otherwise be timed instead).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import slack_ack  # the servers of bench/slack_ack.py
from scratch import scratch_database

from bot.core.clock import SystemClock
from bot.core.ingest import IncomingMessage, TimelineIngest
from bot.core.model import Change, EventKind, Incident, Participant, Severity, State, TimelineEvent
from bot.store import migrate
from bot.store.sql import EV, SqlStore


async def fresh_store(url: str) -> SqlStore:
    store = SqlStore.from_url(url)
    await migrate.upgrade(store.engine)
    return store


async def new_incident(store: SqlStore, channel: str, platform: str = "bench") -> int:
    now = datetime.now(UTC)
    incident = await store.create_incident(
        Incident(0, "bench", Severity.SEV3, State.INVESTIGATING, now, "bench", platform)
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


# -- over HTTP ------------------------------------------------------------------------------

CHANNEL = "C0INGEST01"


def event_body(n: int, run: str) -> str:
    """A `message` event callback as Slack posts it to the Events API."""
    return json.dumps(
        {
            "token": "x",
            "team_id": "T0BENCH",
            "api_app_id": "A0BENCH001",
            "event": {
                "type": "message",
                "channel": CHANNEL,
                "channel_type": "channel",
                "user": f"U0BENCH{n % 7:03d}",
                "text": f"message {n} of {run}",
                "ts": f"{1700000000 + n}.{run[-6:]}",
            },
            "type": "event_callback",
            "event_id": f"Ev{run}{n:07d}",
            "event_time": 1700000000,
            "authorizations": [{"team_id": "T0BENCH", "user_id": "U0BOT00001", "is_bot": True}],
        }
    )


async def post_events(port: int, n: int, concurrency: int, run: str) -> float:
    """Post n signed events, `concurrency` at once; the monotonic time the first was sent."""
    import aiohttp

    url = f"http://127.0.0.1:{port}/slack/events"
    bodies = iter(range(n))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()

        async def worker() -> None:
            for i in bodies:
                body = event_body(i, run)
                headers = {**slack_ack.signed(body), "Content-Type": "application/json"}
                async with session.post(url, data=body.encode(), headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return started


def recorded_messages(url: str) -> Callable[[], int]:
    """Counts the messages on the timeline, through a plain synchronous driver."""
    parsed = make_url(url)
    driver = "postgresql+psycopg2" if parsed.drivername.startswith("postgresql") else "sqlite"
    engine = create_engine(parsed.set(drivername=driver))
    query = text("SELECT count(*) FROM timeline_event WHERE kind = 'message'")

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    return count


def http_run(args: argparse.Namespace, url: str) -> dict[str, object]:
    async def prepare() -> None:
        store = await fresh_store(url)
        await new_incident(store, CHANNEL, platform="slack")
        await store.close()

    asyncio.run(prepare())
    count = recorded_messages(url)
    n, concurrency = args.messages, args.concurrency
    peer_port, bare_port, ours_port = (slack_ack.free_port() for _ in range(3))
    peer_url = f"http://127.0.0.1:{peer_port}"
    servers = [
        slack_ack.start_server("peer", peer_port),
        slack_ack.start_server("bare", bare_port, peer_url),
        slack_ack.start_server("warroom", ours_port, peer_url, database=url),
    ]
    rows: list[dict[str, float]] = []
    try:
        slack_ack.wait_ready(f"{peer_url}/api/auth.test")
        slack_ack.wait_ready(f"http://127.0.0.1:{bare_port}/healthz")
        slack_ack.wait_ready(f"http://127.0.0.1:{ours_port}/healthz")
        asyncio.run(post_events(ours_port, 100, 10, "99000000"))  # connections, caches
        expected = 100
        for r in range(args.runs):  # interleaved, so that others' load falls on both alike
            run = f"{r:02d}{time.monotonic_ns() % 10**6:06d}"
            cpu = slack_ack.cpu_seconds(servers[1].pid)
            started = asyncio.run(post_events(bare_port, n, concurrency, run))
            bare = n / (time.monotonic() - started)
            bare_cpu = slack_ack.cpu_seconds(servers[1].pid) - cpu
            cpu = slack_ack.cpu_seconds(servers[2].pid)
            started = asyncio.run(post_events(ours_port, n, concurrency, run))
            acked = time.monotonic() - started
            expected += n
            deadline = time.monotonic() + 300
            while count() < expected:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {count()} of {expected} messages were recorded")
                time.sleep(0.02)  # a harness polling another process, not a test
            ours = n / (time.monotonic() - started)
            ours_cpu = slack_ack.cpu_seconds(servers[2].pid) - cpu
            rows.append(
                {
                    "bare_acks_per_s": bare,
                    "acked_per_s": n / acked,
                    "recorded_per_s": ours,
                    # Server CPU per event (all threads): steadier than rates on a busy machine.
                    "bare_cpu_ms_per_event": bare_cpu / n * 1000,
                    "cpu_ms_per_event": ours_cpu / n * 1000,
                }
            )
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
    median = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    ratio = statistics.median(r["recorded_per_s"] / r["bare_acks_per_s"] for r in rows)
    dialect = make_url(url).get_backend_name()
    print(
        f"signed Slack message events over HTTP, {dialect}: {n} per run at {concurrency} at "
        f"once, median of {args.runs} interleaved runs"
    )
    print(f"{'':<36} {'events/s':>9}")
    print(f"{'bare Bolt app, acks (floor)':<36} {median['bare_acks_per_s']:>9.0f}")
    print(f"{'warroom, acknowledged':<36} {median['acked_per_s']:>9.0f}")
    print(
        f"{'warroom, recorded on the timeline':<36} {median['recorded_per_s']:>9.0f} "
        f"= {ratio:.2f}x the floor (budget >= 2,000/s)"
    )
    print(
        f"server CPU per event: warroom {median['cpu_ms_per_event']:.3f} ms, "
        f"bare {median['bare_cpu_ms_per_event']:.3f} ms"
    )
    document = {
        "database": dialect,
        "messages": n,
        "concurrency": concurrency,
        "runs": rows,
        "median": median,
        "recorded_over_bare": ratio,
    }
    print(json.dumps(document))
    return document


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--burst", type=int, default=500, help="messages arriving at once")
    parser.add_argument("--url", default=None, help="database URL (default: temporary SQLite)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--http", action="store_true", help="signed events over HTTP")
    parser.add_argument("--concurrency", type=int, default=50, help="--http: requests at once")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        scratch_database(args.url or f"sqlite+aiosqlite:///{folder}/bench.db") as url,
    ):
        if args.http:
            await asyncio.to_thread(http_run, args, url)
            return
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
