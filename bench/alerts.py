"""Alert intake throughput: alerts per second through POST /alerts/alertmanager, with grouping,
and the time to handle one notification (p50/p99), against a floor measured in the same run.

    python bench/alerts.py [--groups 20] [--alerts 50] [--episodes 3] [--url DB_URL]

Two server processes on this machine, started by the script: warroom (this checkout's bot,
SQLite in a scratch folder unless --url names a Postgres database to use) and the floor, a
bare Starlette app that checks the bearer token and parses the JSON body, then answers 200.
The client plays Alertmanager: `--groups` groups at once (one notification in flight per
group, as Alertmanager does), each notification carrying every alert of its group as it
stands, firing and resolved, so the group grows by a tenth of `--alerts` per round, stays, and
then resolves. Critical alerts for catalog services: each group declares an incident or
attaches to its service's open one. Alerts/s counts the alerts in the payloads sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's bot, and the payload shapes

from alert_payloads import alert, notification, resolved  # noqa: E402

TOKEN = "bench-token"
SERVICES = ["checkout", "database"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    return sock


async def serve_floor(port: int) -> None:
    import hmac

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def receive(request):  # type: ignore[no-untyped-def]
        header = request.headers.get("authorization", "")
        if not hmac.compare_digest(header.encode(), f"Bearer {TOKEN}".encode()):
            return JSONResponse({}, status_code=401)
        body = json.loads(await request.body())
        return JSONResponse({"alerts": len(body["alerts"])})

    async def healthz(_):  # type: ignore[no-untyped-def]
        return JSONResponse({})

    web = Starlette(
        routes=[
            Route("/alerts/alertmanager", receive, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )
    server = uvicorn.Server(uvicorn.Config(web, log_level="warning", lifespan="off"))
    await server.serve(sockets=[listening(port)])


async def serve_warroom(port: int, url: str) -> None:
    import gc

    import uvicorn

    from bot.app import add_console, alert_routes, build_app
    from bot.settings import Settings
    from bot.web import build_web_app

    settings = Settings(
        database_url=url,
        playbooks=str(ROOT / "playbooks"),
        catalog=str(ROOT / "catalog.example.yaml"),
        announce_channel="alerts",
        alerts_token=TOKEN,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = await build_app(settings)
    await add_console(app, lambda line: None)
    web = build_web_app(app.store, app.metrics, alert_routes(app))
    server = uvicorn.Server(uvicorn.Config(web, log_level="warning", lifespan="off"))
    gc.freeze()
    await server.serve(sockets=[listening(port)])


def episode_payloads(episode: int, groups: int, size: int) -> list[list[bytes]]:
    """Per group, the notification bodies Alertmanager would send, in order."""
    start = datetime.now(UTC) - timedelta(minutes=30)
    step = max(1, size // 10)
    out = []
    for g in range(groups):
        name = f"Bench{episode}x{g}"
        service = SERVICES[g % len(SERVICES)]
        members = [
            alert(name, service=service, pod=f"p{i}", starts=start + timedelta(seconds=i))
            for i in range(size)
        ]
        bodies = []
        for upto in range(step, size + 1, step):  # growing
            bodies.append(notification(members[:upto]))
        bodies += [notification(members)] * 2  # re-sent at group_interval, nothing new
        half = [resolved(a, start + timedelta(minutes=20)) for a in members[: size // 2]]
        bodies.append(notification(half + members[size // 2 :]))
        ended = [resolved(a, start + timedelta(minutes=25)) for a in members]
        bodies.append(notification(ended))
        out.append([json.dumps(b).encode() for b in bodies])
    return out


async def drive(base: str, plan: list[list[bytes]]) -> tuple[int, float, list[float], list[float]]:
    """Send every group's notifications in order, the groups concurrently: (alerts sent,
    seconds, per-notification latencies, latencies of each group's first notification)."""
    latencies: list[float] = []
    firsts: list[float] = []
    alerts_sent = 0
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=len(plan) + 1)
    async with aiohttp.ClientSession(base, connector=connector) as client:

        async def group(bodies: list[bytes]) -> None:
            nonlocal alerts_sent
            for i, body in enumerate(bodies):
                started = time.perf_counter()
                async with client.post("/alerts/alertmanager", data=body, headers=headers) as r:
                    text = await r.text()
                (latencies if i else firsts).append(time.perf_counter() - started)
                if r.status != 200:
                    raise RuntimeError(f"{r.status}: {text[:300]}")
                alerts_sent += body.count(b'"fingerprint"')

        started = time.perf_counter()
        await asyncio.gather(*(group(bodies) for bodies in plan))
        elapsed = time.perf_counter() - started
    return alerts_sent, elapsed, latencies, firsts


def start(kind: str, port: int, url: str = "") -> subprocess.Popen[bytes]:
    args = [sys.executable, __file__, "--serve", kind, "--port", str(port), "--url", url]
    return subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(ROOT)})


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{base} did not start")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def run(groups: int, size: int, episodes: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = url or f"sqlite+aiosqlite:///{folder}/bench.db"
        ports = {"floor": free_port(), "warroom": free_port()}
        servers = [start("floor", ports["floor"]), start("warroom", ports["warroom"], db)]
        try:
            for port in ports.values():
                wait_ready(f"http://127.0.0.1:{port}")
            results: dict[str, list[tuple[int, float, list[float], list[float]]]] = {
                "floor": [],
                "warroom": [],
            }
            for episode in range(episodes):
                plan = episode_payloads(episode, groups, size)
                # Back to back within an episode, so both see the same machine load.
                for kind in ("floor", "warroom"):
                    results[kind].append(
                        asyncio.run(drive(f"http://127.0.0.1:{ports[kind]}", plan))
                    )
            print(
                f"{groups} groups at once, {size} alerts each, {len(plan[0])} notifications "
                f"per group per episode, {episodes} episodes, database {db.split(':')[0]}"
            )
            figures: dict[str, dict[str, object]] = {}
            for kind in ("floor", "warroom"):
                sent = sum(r[0] for r in results[kind])
                elapsed = sum(r[1] for r in results[kind])
                latencies = [x for r in results[kind] for x in r[2]]
                firsts = [x for r in results[kind] for x in r[3]]
                per_episode = [r[0] / r[1] for r in results[kind]]
                figures[kind] = {
                    "alerts_per_s": round(sent / elapsed),
                    "episodes_alerts_per_s": [round(x) for x in per_episode],
                    "notifications_per_s": round((len(latencies) + len(firsts)) / elapsed),
                    "p50_ms": round(statistics.median(latencies) * 1000, 1),
                    "p99_ms": round(pct(latencies, 0.99) * 1000, 1),
                    "first_p50_ms": round(statistics.median(firsts) * 1000),
                    "first_max_ms": round(max(firsts) * 1000),
                }
                print(
                    f"{kind:8s} {sent / elapsed:9,.0f} alerts/s "
                    f"(episodes {', '.join(f'{x:,.0f}' for x in per_episode)}); "
                    f"{(len(latencies) + len(firsts)) / elapsed:5,.0f} notifications/s; "
                    f"per notification p50 {statistics.median(latencies) * 1000:.1f} ms "
                    f"p99 {pct(latencies, 0.99) * 1000:.1f} ms; a group's first "
                    f"(routing, declaring) p50 {statistics.median(firsts) * 1000:.0f} ms "
                    f"max {max(firsts) * 1000:.0f} ms"
                )
            ours = sum(r[0] for r in results["warroom"]) / sum(r[1] for r in results["warroom"])
            floor = sum(r[0] for r in results["floor"]) / sum(r[1] for r in results["floor"])
            print(f"warroom / floor throughput: {ours / floor:.2f} (goal: >= 2,000 alerts/s)")
            print(
                json.dumps(
                    {
                        "groups": groups,
                        "alerts_per_group": size,
                        "episodes": episodes,
                        "database": db.split(":")[0],
                        "load_average": os.getloadavg()[0],
                        **figures,
                        "ratio": round(ours / floor, 3),
                        "goal_alerts_per_s": 2000,
                    }
                )
            )
        finally:
            for server in servers:
                server.terminate()
                server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--url", default="", help="database URL (default: scratch SQLite)")
    parser.add_argument("--serve", choices=["floor", "warroom"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "floor":
        asyncio.run(serve_floor(args.port))
    elif args.serve == "warroom":
        asyncio.run(serve_warroom(args.port, args.url))
    else:
        run(args.groups, args.alerts, args.episodes, args.url or None)


if __name__ == "__main__":
    main()
