"""Time a postmortem export of an incident with 10,000 timeline events (budget: 300 ms).

The events go into a fresh SQLite file in one bulk insert; each run then fetches the whole
record through SqlStore (what `warroom export` does) and renders the Markdown.

    /work/main/.venv/bin/python bench/export.py [--events 10000] [--runs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.clock import ManualClock
from bot.core.model import EventKind, Incident, Severity, State
from bot.core.postmortem import render_postmortem
from bot.core.service import IncidentService
from bot.store import migrate
from bot.store.sql import EV, SqlStore

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEXTS = (
    "checking the dashboards",
    "p99 is up to 2.3 s | error rate 4%",
    "<@U024BE7LH|bob> can you look at the pool? <!here>",
    "deploying the fix\nthen watching for 10 minutes",
    "@channel please stop deploying",
)


def event_rows(number: int, count: int) -> list[dict[str, object]]:
    rows = []
    for i in range(count):
        at = START + timedelta(seconds=i)
        kind = EventKind.STATUS_UPDATE if i % 500 == 0 else EventKind.MESSAGE
        data: dict[str, object] = {}
        if i % 97 == 0:
            data = {"highlight": True, "highlighted_by": "alice"}
        elif i % 53 == 0:
            data = {"edited": True, "original_text": "typo"}
        rows.append(
            {
                "incident_number": number,
                "occurred_at": at,
                "recorded_at": at,
                "kind": kind.value,
                "actor": f"user{i % 17}",
                "text": TEXTS[i % len(TEXTS)],
                "data": data,
                "source_key": f"bench-{i}",
                "deleted_at": at if i % 211 == 0 else None,
            }
        )
    return rows


async def main(events: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = SqlStore.from_url(f"sqlite+aiosqlite:///{folder}/bench.db")
        try:
            await migrate.upgrade(store.engine)
            incident = await store.create_incident(
                Incident(
                    0,
                    "Checkout latency",
                    Severity.SEV2,
                    State.INVESTIGATING,
                    START,
                    "alice",
                    "console",
                    service="checkout",
                )
            )
            started = time.perf_counter()
            async with store.engine.begin() as conn:
                await conn.execute(insert(EV), event_rows(incident.number, events))
            inserted = time.perf_counter() - started
            clock = ManualClock(START + timedelta(seconds=events))
            service = IncidentService(store, {}, clock)
            fetch_ms, render_ms, total_ms = [], [], []
            for run in range(runs + 1):
                t0 = time.perf_counter()
                record = await service.record(incident.number)
                t1 = time.perf_counter()
                markdown = render_postmortem(record, clock.now())
                t2 = time.perf_counter()
                if run == 0:
                    continue  # warm-up: imports, statement caches, template compile
                fetch_ms.append((t1 - t0) * 1000)
                render_ms.append((t2 - t1) * 1000)
                total_ms.append((t2 - t0) * 1000)
            assert len(record.timeline) == events, asdict(record.incident)
        finally:
            await store.close()
    print(f"export of {events} events, {runs} runs (bulk insert took {inserted * 1000:.0f} ms)")
    print(f"  document: {len(markdown):,} characters, {markdown.count(chr(10)):,} lines")
    for name, values in (("fetch", fetch_ms), ("render", render_ms), ("total", total_ms)):
        print(f"  {name:<6} p50 {statistics.median(values):7.1f} ms   max {max(values):7.1f} ms")
    verdict = "within" if statistics.median(total_ms) < 300 else "OVER"
    print(f"  budget 300 ms: p50 {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.runs))
