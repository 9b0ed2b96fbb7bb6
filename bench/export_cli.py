"""Wall time of a whole `warroom export INC-N` process (budget: under 0.4 s), against floors
run in the same rounds: `python -c pass` (the interpreter alone) and a process that only
imports what any export must (SQLAlchemy's async engine and the SQLModel tables).

    /work/venv/bin/python bench/export_cli.py [--events 20] [--rounds 7]

The database is a fresh SQLite file at the newest schema with one incident of `--events`
messages, made by the bot's own code; each round runs every command once, interleaved, so
that load from other work on the machine falls on all of them alike. Prints a table (median
and min over rounds) and the same as JSON; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET_S = 0.4


async def populate(url: str, events: int) -> None:
    from bot.chat.console.chat import ConsoleChat
    from bot.core.clock import ManualClock
    from bot.core.router import Router
    from bot.core.service import IncidentService, Invocation
    from bot.store.schema import open_store

    store = await open_store(url)
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    service = IncidentService(store, {"console": ConsoleChat(lambda _: None)}, clock)
    router = Router(service)
    try:
        await router.handle(Invocation("alice", "console", "general"), "declare sev2 DB down")
        here = Invocation("alice", "console", "inc-1-db-down")
        for n in range(events):
            clock.advance(seconds=30)
            await service.record_message("console", "inc-1-db-down", "bob", f"message {n}")
        await router.handle(here, "resolve Failed over")
    finally:
        await store.close()


def timed(command: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        asyncio.run(populate(url, args.events))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "WARROOM_DATABASE_URL": url}
        python = sys.executable
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "imports: sqlalchemy async + tables": [
                python,
                "-c",
                "import sqlalchemy.ext.asyncio, bot.store.tables",
            ],
            "warroom export INC-1": [python, "-m", "bot", "export", "INC-1"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                times[name].append(timed(command, env, folder))
    rows = {
        name: {"median_s": statistics.median(values), "min_s": min(values)}
        for name, values in times.items()
    }
    export = rows["warroom export INC-1"]
    floor = rows["python -c pass"]
    imports = rows["imports: sqlalchemy async + tables"]
    print(f"whole process, {args.rounds} interleaved rounds, incident of {args.events} messages")
    print(f"{'command':<36} {'median s':>9} {'min s':>7}")
    for name, row in rows.items():
        print(f"{name:<36} {row['median_s']:>9.3f} {row['min_s']:>7.3f}")
    verdict = "met" if export["median_s"] < BUDGET_S else "MISSED"
    print(
        f"export: {export['median_s']:.3f} s (budget {BUDGET_S} s: {verdict}); beyond its "
        f"unavoidable imports {export['median_s'] - imports['median_s']:.3f} s; "
        f"{export['median_s'] / floor['median_s']:.1f}x python -c pass"
    )
    print(json.dumps({"rounds": args.rounds, "events": args.events, "runs": rows}))


if __name__ == "__main__":
    main()
