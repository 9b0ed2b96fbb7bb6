"""Time loading a catalog of 2,000 services, 150 teams and 10,000 people, in warroom's YAML
(budget 300 ms) and as Backstage descriptors (budget 500 ms), next to floors from the same run:
the parser the loader uses (yaml-rs) alone on the same text, and libyaml's C parser (compose)
alone, which the issue names as the floor. Also a first load in a fresh process, a load with
one misspelt owner (the problem positioned), and who-is-on-call lookups by service name.
Prints a table, then the same figures as JSON.

    python bench/catalog.py [--services 2000] [--teams 150] [--people 10000] [--runs 7]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
import yaml_rs
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.ownership import OnCall
from bot.playbooks.catalog_loader import load_catalog, load_sources
from bot.playbooks.fastyaml import Yaml12Loader

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = {"warroom": 300.0, "backstage": 500.0}


def native(services: int, teams: int, people: int) -> str:
    rng = random.Random(7)
    lines = ["people:"]
    lines += [f"  - {{name: p{i}, email: p{i}@example.com}}" for i in range(people)]
    lines.append("teams:")
    per = people // teams
    for t in range(teams):
        members = ", ".join(f"p{t * per + k}" for k in range(per))
        lines += [
            f"  - name: team{t}",
            f"    members: [{members}]",
            "    rotation:",
            f"      - members: [{', '.join(f'p{t * per + k}' for k in range(4))}]",
            "        start: 2026-01-05T09:00:00",
            "        timezone: Europe/Zagreb",
            "        length: 1w",
            "      - members: [" + f"p{t * per + 4}, p{t * per + 5}]",
            "        start: 2026-01-05T00:00:00",
            "        length: 1d",
            "        restrict: {days: [mon, tue, wed, thu, fri], from: '09:00', to: '18:00'}",
            f"    escalation: [p{t * per + 6}]",
        ]
    lines.append("services:")
    for s in range(services):
        deps = ", ".join(f"svc{rng.randrange(services)}" for _ in range(3))
        lines += [
            f"  - name: svc{s}",
            f"    owner: team{rng.randrange(teams)}",
            "    tier: 2",
            f"    runbook: https://wiki.example.com/runbooks/svc{s}",
            f"    dependencies: [{deps}]",
        ]
    return "\n".join(lines) + "\n"


def backstage(services: int, teams: int, people: int) -> str:
    rng = random.Random(7)
    docs = []
    per = people // teams
    for p in range(people):
        docs.append(
            f"apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: p{p}\n"
            f"spec:\n  profile: {{email: p{p}@example.com}}\n"
            f"  memberOf: [team{min(p // per, teams - 1)}]\n"
        )
    for t in range(teams):
        docs.append(
            f"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team{t}\n"
            f"  annotations:\n    warroom.dev/escalate-to: user:p{t * per + 6}\n"
            "spec:\n  type: team\n  children: []\n"
        )
    for s in range(services):
        deps = ", ".join(f"component:svc{rng.randrange(services)}" for _ in range(3))
        docs.append(
            f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc{s}\n"
            f"  annotations:\n    warroom.dev/runbook: https://wiki.example.com/runbooks/svc{s}\n"
            "spec:\n  type: service\n  lifecycle: production\n"
            f"  owner: group:default/team{rng.randrange(teams)}\n"
            f"  dependsOn: [{deps}]\n"
        )
    return "---\n".join(docs)


def timed(runs: int, fn: Callable[[], object]) -> dict[str, float]:
    """Wall and CPU milliseconds of `runs` calls: median, min and max wall, median CPU. The
    cyclic GC is paused while timing (the loader pauses it too), so floors and loads are
    compared on equal terms."""
    walls, cpus = [], []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        start, cpu = time.perf_counter(), time.process_time()
        kept = fn()  # freed after the clock stops: a loaded catalog lives as long as the bot
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        del kept
        gc.enable()
    return {
        "median_ms": statistics.median(walls),
        "min_ms": min(walls),
        "max_ms": max(walls),
        "cpu_median_ms": statistics.median(cpus),
    }


FIRST_LOAD = """
import sys, time
sys.path.insert(0, {root!r})
from bot.playbooks.catalog_loader import load_catalog, load_sources
start = time.perf_counter()
catalog = load_catalog({path!r})
print((time.perf_counter() - start) * 1000)
"""


def first_load(path: Path, runs: int) -> float:
    """Median of the first load in a fresh process (nothing warmed up; imports not counted)."""
    times = []
    for _ in range(runs):
        code = FIRST_LOAD.format(root=str(ROOT), path=str(path))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"first load failed: {out.stderr.strip()}")
        times.append(float(out.stdout.strip()))
    return statistics.median(times)


def one_problem(path: Path, text: str, runs: int) -> float:
    """Median time to load the catalog with one service's owner misspelt: the problems are
    positioned (the files concerned composed again with their marks)."""
    bad = path.with_name(f"bad-{path.name}")
    for good in ("    owner: team7\n", "  owner: group:default/team7\n"):
        if good in text:
            bad.write_text(text.replace(good, good.replace("team7", "taem7"), 1))
            break
    else:
        raise SystemExit("no service owned by team7 to misspell")

    def lint() -> None:
        catalog, problems = load_sources(bad)
        assert catalog is None and problems, "the misspelt owner was not reported"

    return timed(runs, lint)["median_ms"]


def lookups(catalog_path: Path, services: int) -> dict[str, float]:
    catalog = load_catalog(catalog_path)
    oncall = OnCall(catalog)
    names = [f"svc{i}" for i in range(services)]
    at = datetime(2027, 3, 29, 7, 30, tzinfo=UTC)
    count = 20_000
    start = time.perf_counter()
    for i in range(count):
        team = catalog.owner_of(names[i % len(names)])
        assert team is not None
        oncall.at(team, at + timedelta(minutes=i))
    person = (time.perf_counter() - start) / count
    start = time.perf_counter()
    for i in range(count):
        catalog.owner_of(names[i % len(names)])
    owner = (time.perf_counter() - start) / count
    return {"owner_us": owner * 1e6, "oncall_now_us": person * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--teams", type=int, default=150)
    parser.add_argument("--people", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per figure (median)")
    parser.add_argument("--ruamel", action="store_true", help="also time ruamel's round trip")
    args = parser.parse_args()
    size = (args.services, args.teams, args.people)
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for form, make in (("warroom", native), ("backstage", backstage)):
            text = make(*size)
            path = Path(tmp) / f"{form}.yaml"
            path.write_text(text)
            load_catalog(path)  # once, so that every timed run is alike
            row = {"mb": len(text) / 1e6, "budget_ms": BUDGET_MS[form]}
            # Interleaved, so that a burst of load elsewhere hits floors and loads alike.
            parts: dict[str, list[dict[str, float]]] = {"load": [], "rs": [], "c": []}
            for _ in range(args.runs):
                parts["load"].append(timed(1, lambda p=path: load_catalog(p)))
                parts["rs"].append(timed(1, lambda t=text: yaml_rs.loads(t, parse_datetime=False)))
                parts["c"].append(
                    timed(1, lambda t=text: list(yaml.compose_all(t, Loader=Yaml12Loader)))
                )
            for name, runs in parts.items():
                walls = [r["median_ms"] for r in runs]
                row[f"{name}_median_ms"] = statistics.median(walls)
                row[f"{name}_min_ms"] = min(walls)
                row[f"{name}_max_ms"] = max(walls)
                row[f"{name}_cpu_median_ms"] = statistics.median(r["cpu_median_ms"] for r in runs)
            row["load_over_rs_floor"] = row["load_median_ms"] / row["rs_median_ms"]
            row["load_over_c_floor"] = row["load_median_ms"] / row["c_median_ms"]
            row["first_load_ms"] = first_load(path, max(3, args.runs // 2))
            row["one_problem_ms"] = one_problem(path, text, max(3, args.runs // 2))
            if args.ruamel:
                row["ruamel_ms"] = timed(1, lambda t=text: list(YAML().load_all(t)))["median_ms"]
            results[form] = row
        found = lookups(Path(tmp) / "warroom.yaml", args.services)
    load_after = os.getloadavg()[0]
    print(
        f"catalog: {args.services} services, {args.teams} teams, {args.people} people; "
        f"median of {args.runs} runs (load average {load_before:.2f} -> {load_after:.2f})"
    )
    print(
        "| format | size | load (median, min-max) | CPU | first load, new process | "
        "floor: yaml-rs parse | floor: libyaml C compose | load/yaml-rs | load/C | budget | "
        "with one misspelt owner |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for form, r in results.items():
        verdict = "met" if r["load_median_ms"] < r["budget_ms"] else "MISSED"
        print(
            f"| {form} | {r['mb']:.1f} MB "
            f"| {r['load_median_ms']:.1f} ms ({r['load_min_ms']:.1f}-{r['load_max_ms']:.1f}) "
            f"| {r['load_cpu_median_ms']:.1f} ms | {r['first_load_ms']:.1f} ms "
            f"| {r['rs_median_ms']:.1f} ms | {r['c_median_ms']:.1f} ms "
            f"| {r['load_over_rs_floor']:.2f}x | {r['load_over_c_floor']:.2f}x "
            f"| < {r['budget_ms']:.0f} ms {verdict} | {r['one_problem_ms']:.1f} ms |"
        )
        if "ruamel_ms" in r:
            print(f"|   ruamel round trip (the old path) | | {r['ruamel_ms']:.1f} ms |" + " |" * 8)
    print(
        f"lookups: service -> owning team {found['owner_us']:.2f} us; service -> person on call "
        f"now (2 layers, restrictions, DST zone) {found['oncall_now_us']:.1f} us"
    )
    print(
        json.dumps(
            {
                "size": dict(zip(("services", "teams", "people"), size, strict=True)),
                "runs": args.runs,
                "load_average": [round(load_before, 2), round(load_after, 2)],
                "formats": {f: {k: round(v, 3) for k, v in r.items()} for f, r in results.items()},
                "lookups": {k: round(v, 3) for k, v in found.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
