"""Ack latency of POST /slack/events for a signed /incident slash command: warroom against a
bare Bolt app that only acks, both under uvicorn, at idle and under 50 concurrent requests.

    /work/main/.venv/bin/python bench/slack_ack.py [--requests 2000] [--command help]

Each server runs in its own process (so the client's work does not share its event loop);
warroom gets a temporary SQLite database and the local Slack peer from tests/ as its Web API
and response_url. Prints p50/p99 in milliseconds; asserts nothing (budgets: DESIGN.md).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- servers (run in a child process) ----------------------------------------------------------


async def _authorize(enterprise_id, team_id, user_id):  # type: ignore[no-untyped-def]
    from slack_bolt.authorization import AuthorizeResult

    return AuthorizeResult(
        enterprise_id=None, team_id="T0BENCH", bot_token="xoxb-bench", bot_user_id="U0BOT00001"
    )


async def serve_bare(port: int) -> None:
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    bolt = AsyncApp(signing_secret=SECRET, authorize=_authorize, process_before_response=True)

    @bolt.command("/incident")
    async def only_ack(ack):  # type: ignore[no-untyped-def]
        await ack()

    handler = AsyncSlackRequestHandler(bolt)

    async def events(request):  # type: ignore[no-untyped-def]
        return await handler.handle(request)

    async def healthz(_):  # type: ignore[no-untyped-def]
        return PlainTextResponse("ok")

    web = Starlette(
        routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz)]
    )
    config = uvicorn.Config(web, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    await uvicorn.Server(config).serve()


async def serve_warroom(port: int, peer_port_file: str) -> None:
    import uvicorn

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    from slack_peer import SlackPeer

    from bot.app import build_app
    from bot.chat.slack.platform import build_slack_platform
    from bot.settings import Settings
    from bot.web import build_web_app

    peer = await SlackPeer().start()
    Path(peer_port_file).write_text(peer.response_url("bench"))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
            slack_bot_token="xoxb-bench",
            slack_signing_secret=SECRET,
            slack_api_url=peer.api_url,
        )
        app = await build_app(settings)
        platform = build_slack_platform(app, authorize=_authorize)
        app.add_platform(platform)
        web = build_web_app(app.store, app.metrics, platform.routes())
        config = uvicorn.Config(web, host="127.0.0.1", port=port, log_level="error", lifespan="off")
        try:
            await uvicorn.Server(config).serve()
        finally:
            await app.close()
            await peer.stop()


# -- client --------------------------------------------------------------------------------------


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_body(text: str, n: int, response_url: str) -> str:
    return urllib.parse.urlencode(
        {
            "token": "x",
            "team_id": "T0BENCH",
            "channel_id": "C0BENCH001",
            "user_id": "U0BENCH001",
            "command": "/incident",
            "text": text,
            "response_url": response_url,
            "trigger_id": f"1.2.{n}",
        }
    )


async def measure(
    port: int, text: str, response_url: str, total: int, concurrency: int
) -> list[float]:
    url = f"http://127.0.0.1:{port}/slack/events"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    counter = iter(range(total))
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(n: int) -> float:
            body = command_body(text, n, response_url)
            headers = signed(body)
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.text
            return elapsed

        for n in range(min(100, total)):  # warm up connections, caches, first auth
            await one(n)

        async def worker() -> None:
            for n in counter:
                latencies.append(await one(n))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def start_server(kind: str, port: int, peer_file: str) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        __file__,
        "--serve",
        kind,
        "--port",
        str(port),
        "--peer-file",
        peer_file,
    ]
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # a benchmark harness, not a test: polling a child's start is fine
    raise SystemExit(f"server on port {port} did not start")


def run_client(requests: int, text: str) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("bare", "warroom"):
            port = free_port()
            peer_file = f"{tmp}/{kind}.peer"
            server = start_server(kind, port, peer_file)
            try:
                wait_ready(port)
                response_url = (
                    Path(peer_file).read_text()
                    if kind == "warroom"
                    else "http://127.0.0.1:9/unused"
                )
                for concurrency in (1, 50):
                    latencies = asyncio.run(
                        measure(port, text, response_url, requests, concurrency)
                    )
                    rows.append(
                        (
                            kind,
                            concurrency,
                            len(latencies),
                            pct(latencies, 50),
                            pct(latencies, 99),
                            statistics.mean(latencies) * 1000,
                        )
                    )
            finally:
                server.terminate()
                server.wait(timeout=10)
    print(f"POST /slack/events, signed slash command '/incident {text}', {requests} requests")
    print(f"{'app':<8} {'concurrency':>11} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for kind, concurrency, n, p50, p99, mean in rows:
        print(f"{kind:<8} {concurrency:>11} {n:>6} {p50:>8.2f} {p99:>8.2f} {mean:>8.2f}")
    bare = {c: p99 for k, c, _, _, p99, _ in rows if k == "bare"}
    ours = {c: p99 for k, c, _, _, p99, _ in rows if k == "warroom"}
    print(f"p99 ratio warroom/bare at 50 concurrent: {ours[50] / bare[50]:.2f} (budget 1.3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--command", default="help", help="slash command text")
    parser.add_argument("--serve", choices=["bare", "warroom"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--peer-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "bare":
        asyncio.run(serve_bare(args.port))
    elif args.serve == "warroom":
        asyncio.run(serve_warroom(args.port, args.peer_file))
    else:
        run_client(args.requests, args.command)


if __name__ == "__main__":
    main()
