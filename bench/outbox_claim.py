"""One outbox claim at many pending rows, against the floor of the same rows updated by their
primary keys, in the same run.

    python bench/outbox_claim.py [--lanes 100] [--per-lane 100] [--repeat 5]
                                 [--url postgresql+asyncpg://user@host/db]

The table is migrated and filled, never analysed (the planner's statistics are as stale as
right after a burst of writes). Two cases: every lane's head may go (the claim takes 100
rows), and every lane's head is under a live lease elsewhere (it takes none: the common claim
while everything is in flight). Each claim is rolled back; the median of `--repeat` is shown.
Prints a table, then the same figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's bot
sys.path.insert(0, str(ROOT / "bench"))

from reminders import scratch_database  # noqa: E402

from bot.store import migrate  # noqa: E402
from bot.store.outbox import O, _claim_statement  # noqa: E402

LIMIT = 100


async def measure(url: str, lanes: int, per_lane: int, repeat: int) -> dict[str, float | int]:
    engine = create_async_engine(url)
    try:
        await migrate.upgrade(engine)
        now = datetime.now(UTC)
        rows = [
            {
                "key": uuid.uuid4().hex,
                "platform": "bench",
                "lane": f"C{lane:05d}",
                "kind": "post",
                "args": {"channel_id": f"C{lane:05d}", "text": "reminder"},
                "state": "pending",
                "attempts": 0,
                "created_at": now,
                "available_at": now,
            }
            for lane in range(lanes)
            for _ in range(per_lane)
        ]
        async with engine.begin() as conn:
            await conn.execute(insert(O), rows)
            heads = list(
                (await conn.execute(select(O.c.id).where(O.c.id % per_lane == 1))).scalars()
            )
        claim = _claim_statement(engine.dialect.name == "postgresql")
        until = now + timedelta(minutes=1)
        params = {"now": now, "limit": LIMIT, "me": "bench", "token": "t", "until": until}
        floor_ids = heads[:LIMIT]
        out: dict[str, float | int] = {}
        for case in ("heads_ready", "heads_leased"):
            claims, floors, taken = [], [], 0
            for _ in range(repeat):
                async with engine.connect() as conn:
                    outer = await conn.begin()
                    if case == "heads_leased":
                        await conn.execute(
                            update(O).where(O.c.id.in_(heads)).values(lease_until=until)
                        )
                    started = time.perf_counter()
                    taken = len((await conn.execute(claim, params)).all())
                    claims.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    await conn.execute(
                        update(O)
                        .where(O.c.id.in_(floor_ids))
                        .values(claimed_by="bench", claim_token="f", attempts=O.c.attempts + 1)
                    )
                    floors.append(time.perf_counter() - started)
                    await outer.rollback()
            out[f"{case}_claim_ms"] = round(statistics.median(claims) * 1000, 2)
            out[f"{case}_floor_ms"] = round(statistics.median(floors) * 1000, 2)
            out[f"{case}_rows"] = taken
        return out
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=100)
    parser.add_argument("--per-lane", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", help="a Postgres server URL (a scratch database is made on it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        with scratch_database(args.url, folder) as url:
            result = asyncio.run(measure(url, args.lanes, args.per_lane, args.repeat))
    backend = "postgres" if args.url else "sqlite"
    load = os.getloadavg()[0]
    print(f"{args.lanes * args.per_lane} pending rows in {args.lanes} lanes, no ANALYZE")
    print("backend   case           claim ms  floor ms  rows")
    for case in ("heads_ready", "heads_leased"):
        print(
            f"{backend:<9} {case:<14} {result[f'{case}_claim_ms']:>8} "
            f"{result[f'{case}_floor_ms']:>9} {result[f'{case}_rows']:>5}"
        )
    print(f"floor: {LIMIT} rows updated by primary key, same run; load average {load:.2f}")
    print(json.dumps({"backend": backend, "load_average": load, **result}))


if __name__ == "__main__":
    main()
