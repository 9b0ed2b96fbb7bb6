"""Time loading a catalog of 2,000 services, 150 teams and 10,000 people (budget: 0.3 s), in
warroom's YAML and as Backstage descriptors, next to its floor (libyaml's C parser alone on
the same text), and time who-is-on-call lookups by service name.

    python bench/catalog.py [--services 2000] [--teams 150] [--people 10000] [--runs 7]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.ownership import OnCall
from bot.playbooks.catalog_loader import load_catalog
from bot.playbooks.fastyaml import Yaml12Loader


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


CPU: list[float] = [0.0]  # process CPU seconds of the best run of the latest `best` call


def best(runs: int, fn: Callable[[], object], *, gc_off: bool = True) -> tuple[float, float]:
    """Best and median wall time of `runs`; the cyclic GC paused while timing (as the loader
    does), so floors and loads are compared on equal terms. CPU[0] is the least CPU time of a
    run, which a busy machine inflates less than wall time."""
    times, cpus = [], []
    for _ in range(runs):
        gc.collect()
        if gc_off:
            gc.disable()
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        gc.enable()
    CPU[0] = min(cpus)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--teams", type=int, default=150)
    parser.add_argument("--people", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ruamel", action="store_true", help="also time ruamel's round trip")
    args = parser.parse_args()
    size = (args.services, args.teams, args.people)
    print(
        f"catalog: {args.services} services, {args.teams} teams, {args.people} people "
        "(budget: load under 300 ms; figures are best of --runs)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in (("warroom YAML", native(*size)), ("Backstage", backstage(*size))):
            path = Path(tmp) / f"{name.split()[0].lower()}.yaml"
            path.write_text(text)
            # The floor: libyaml parsing and composing the text in C, nothing built from it.
            floor, _ = best(
                args.runs, lambda t=text: list(yaml.compose_all(t, Loader=Yaml12Loader))
            )
            floor_cpu = CPU[0]
            cload, _ = best(
                args.runs, lambda t=text: list(yaml.load_all(t, Loader=yaml.CSafeLoader))
            )
            load, load_median = best(args.runs, lambda p=path: load_catalog(p))
            load_cpu = CPU[0]
            print(
                f"  {name:12} {len(text) / 1e6:.1f} MB: catalog load {load * 1000:7.1f} ms "
                f"(median {load_median * 1000:.1f}) | "
                f"floor, C parse alone {floor * 1000:7.1f} ms | "
                f"PyYAML CSafeLoader load {cload * 1000:7.1f} ms | load/floor {load / floor:.2f}x"
            )
            print(
                f"  {'':12} CPU time: catalog load {load_cpu * 1000:.1f} ms, "
                f"floor {floor_cpu * 1000:.1f} ms ({load_cpu / floor_cpu:.2f}x)"
            )
            if args.ruamel:
                rt, _ = best(1, lambda t=text: list(YAML().load_all(t)))
                print(
                    f"  {'':12} ruamel round-trip parse (the old path) {rt * 1000:.1f} ms, "
                    f"{rt / floor:.1f}x the floor"
                )
        catalog = load_catalog(Path(tmp) / "warroom.yaml")
    oncall = OnCall(catalog)
    names = [f"svc{i}" for i in range(args.services)]
    at = datetime(2027, 3, 29, 7, 30, tzinfo=UTC)
    lookups = 20_000
    start = time.perf_counter()
    for i in range(lookups):
        team = catalog.owner_of(names[i % len(names)])
        assert team is not None
        oncall.at(team, at + timedelta(minutes=i))
    per = (time.perf_counter() - start) / lookups
    start = time.perf_counter()
    for i in range(lookups):
        catalog.owner_of(names[i % len(names)])
    owner = (time.perf_counter() - start) / lookups
    print(
        f"  lookups: service -> owning team {owner * 1e6:.2f} us; "
        f"service -> person on call now (2 layers, restrictions, DST zone) {per * 1e6:.1f} us"
    )


if __name__ == "__main__":
    main()
