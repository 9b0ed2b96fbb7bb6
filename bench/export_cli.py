"""Wall time of a whole `warroom export INC-N` process (budget: under 0.4 s), against the
floor run in the same rounds: `python -c pass` (the interpreter alone).

    /work/venv/bin/python bench/export_cli.py [--events 20] [--rounds 9] [--postgres URL]

The database is a fresh SQLite file at the newest schema with one incident of `--events`
messages, made by the bot's own code; with `--postgres` (or WARROOM_TEST_POSTGRES_URL) the
same incident in a fresh Postgres database too, dropped afterwards. Rows:

- `warroom export INC-1`: the command as users run it (bot/readonly.py: the driver alone; on
  Postgres the blocking client, bot/store/pgwire.py, without asyncio or asyncpg);
- `export (postgres), over asyncpg`: the same with a PG* variable set (PGAPPNAME), which leaves
  the connection to asyncpg, as every Postgres export connected before;
- `usual path`: the same export through SQLAlchemy and the store (bot/__main__.py `_main`),
  as every export ran before, and as the unusual cases (errors, migrations) still do;
- `imports: sqlalchemy async + tables`: what that usual path cannot do without;
- `import bot.app`: the bot's start-up imports (`warroom run`), for reference.

Each round runs every command once, interleaved, so that load from other work on the machine
falls on all of them alike. Prints a table (median and min over rounds), the load average
(`/proc/loadavg`) before and after, the biggest imports of `bot.app` (-X importtime), and the
same as JSON; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # scratch.py

from scratch import scratch_database  # noqa: E402

BUDGET_S = 0.4
USUAL = (
    "import sys; from bot.__main__ import _main, _parser; "
    "sys.exit(_main(_parser().parse_args(sys.argv[1:])))"
)


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


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def startup_imports(python: str, env: dict[str, str], cwd: str, top: int = 8) -> dict:
    """`import bot.app` under -X importtime (one run): its cumulative time, and the self
    time of each top-level package, biggest first (where the bot's start-up goes)."""
    result = subprocess.run(
        [python, "-X", "importtime", "-c", "import bot.app"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    line = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| *(\S+)$")
    total = None
    by_package: dict[str, float] = {}
    for text in result.stderr.splitlines():
        if match := line.match(text):
            name = match.group(3)
            package = name.split(".")[0]
            by_package[package] = by_package.get(package, 0.0) + int(match.group(1)) / 1e6
            if name == "bot.app":
                total = int(match.group(2)) / 1e6
    biggest = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:top]
    return {"bot_app_cumulative_s": total, "self_s_by_package": dict(biggest)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--postgres", default=os.environ.get("WARROOM_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    python = sys.executable
    load_before = loadavg()
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as databases:
        sqlite_url = f"sqlite+aiosqlite:///{folder}/bench.db"
        asyncio.run(populate(sqlite_url, args.events))
        urls = {"sqlite": sqlite_url}
        if args.postgres:
            urls["postgres"] = databases.enter_context(scratch_database(args.postgres))
            asyncio.run(populate(urls["postgres"], args.events))
        base = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
        base["PYTHONPATH"] = str(ROOT)
        # As installed (pip compiles bytecode): modules load from cached bytecode, kept in the
        # temporary folder. The `no bytecode cache` row is a checkout run with
        # PYTHONDONTWRITEBYTECODE=1 (as on the developers' machines), where every run compiles
        # warroom's own sources again.
        source_only = {**base, "PYTHONDONTWRITEBYTECODE": "1"}
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        base["PYTHONPYCACHEPREFIX"] = f"{folder}/pycache"
        runs: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([python, "-c", "pass"], base),
        }
        for backend, url in urls.items():
            env = {**base, "WARROOM_DATABASE_URL": url}
            runs[f"warroom export INC-1 ({backend})"] = ([python, "-m", "bot", "export", "1"], env)
            runs[f"usual path ({backend})"] = ([python, "-c", USUAL, "export", "1"], env)
            if backend == "postgres":
                runs["export (postgres), over asyncpg"] = (
                    [python, "-m", "bot", "export", "1"],
                    {**env, "PGAPPNAME": "warroom-bench"},
                )
            if backend == "sqlite":
                runs["export (sqlite), no bytecode cache"] = (
                    [python, "-m", "bot", "export", "1"],
                    {**source_only, "WARROOM_DATABASE_URL": url},
                )
        runs["imports: sqlalchemy async + tables"] = (
            [python, "-c", "import sqlalchemy.ext.asyncio, bot.store.tables"],
            base,
        )
        runs["import bot.app"] = ([python, "-c", "import bot.app"], base)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for command, env in runs.values():  # warm-up: bytecode written, files cached
            timed(command, env, folder)
        for _ in range(args.rounds):
            for name, (command, env) in runs.items():
                times[name].append(timed(command, env, folder))
        imports = startup_imports(python, base, folder)
    load_after = loadavg()
    rows = {
        name: {"median_s": statistics.median(values), "min_s": min(values)}
        for name, values in times.items()
    }
    floor = rows["python -c pass"]["median_s"]
    print(
        f"whole process, {args.rounds} interleaved rounds, incident of {args.events} messages; "
        f"load average before {load_before}, after {load_after} (2 cores)"
    )
    print(f"{'command':<38} {'median s':>9} {'min s':>7} {'x floor':>8}")
    for name, row in rows.items():
        ratio = row["median_s"] / floor
        print(f"{name:<38} {row['median_s']:>9.3f} {row['min_s']:>7.3f} {ratio:>8.1f}")
    verdicts = {}
    for backend in urls:
        export = rows[f"warroom export INC-1 ({backend})"]["median_s"]
        usual = rows[f"usual path ({backend})"]["median_s"]
        verdicts[backend] = "met" if export < BUDGET_S else "MISSED"
        print(
            f"export on {backend}: {export:.3f} s (budget {BUDGET_S} s: {verdicts[backend]}), "
            f"floor {floor:.3f} s; usual path {usual:.3f} s ({usual / export:.1f}x)"
        )
    if "postgres" in urls:
        wire = rows["warroom export INC-1 (postgres)"]["median_s"]
        over_asyncpg = rows["export (postgres), over asyncpg"]["median_s"]
        print(
            f"export on postgres over asyncpg (as every one connected before): "
            f"{over_asyncpg:.3f} s, {over_asyncpg / wire:.2f}x the blocking client's"
        )
    print(
        f"import bot.app under -X importtime (one run): {imports['bot_app_cumulative_s']:.3f} s; "
        "self time by package:"
    )
    for package, seconds in imports["self_s_by_package"].items():
        print(f"  {package:<34} {seconds:.3f} s")
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "events": args.events,
                "budget_s": BUDGET_S,
                "loadavg_before": load_before,
                "loadavg_after": load_after,
                "floor_s": floor,
                "runs": rows,
                "verdicts": verdicts,
                "bot_app_importtime": imports,
            }
        )
    )


if __name__ == "__main__":
    main()
