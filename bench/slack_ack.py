"""Ack latency of POST /slack/events for a signed /incident slash command: warroom against a
bare Bolt app that only acks (process_before_response=True), both under uvicorn, at idle and
under 50 and 500 concurrent requests; and, for commands answered through a response_url, the
answer latency (command sent to its answer received at the Slack peer).

    /work/venv/bin/python bench/slack_ack.py [--requests 2000] [--commands help,list]
        [--concurrency 1,50,500] [--rounds 3]

Each server runs in its own process (so the client's work does not share its event loop);
warroom gets a temporary SQLite database and the local Slack peer from tests/ as its Web API
and response_url. Prints p50/p99/max in milliseconds, answer p50/p99, the server's CPU time per
command until every answer was sent (all its threads; on Linux), ratios to the bare app within
each round, and the slowest ack at the highest concurrency against Slack's 3 s limit (a
command answered in its acknowledgement, as help and a read in an idle channel are, has its ack
as its answer); then the same as one line of JSON. Asserts nothing (budgets: DESIGN.md). On a
busy machine the latencies are noisy: read the per-round ratios.

WARROOM_BENCH_PROFILE=FILE profiles the warroom server with cProfile and writes its stats to FILE
when the run ends (the figures are then not comparable).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import hmac
import json
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
WARM_UP = 100
SLACK_ACK_LIMIT_MS = 3000.0


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

    @bolt.event("message")  # bench/ingest.py --http: the floor for message events
    async def only_ack_event(ack):  # type: ignore[no-untyped-def]
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
    gc.freeze()  # as bot/server.py does for warroom: compare like with like
    await uvicorn.Server(config).serve()


async def serve_peer(port: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from aiohttp import web
    from slack_peer import SlackPeer

    class TimedPeer(SlackPeer):
        """The Slack peer, noting when each response_url answer arrived (CLOCK_MONOTONIC is
        the same clock in every process, so the client can subtract its send times)."""

        arrived: dict[str, float] = {}

        async def _respond(self, request: web.Request) -> web.Response:
            self.arrived[request.match_info["token"]] = time.monotonic()
            return await super()._respond(request)

        async def _stats(self, request: web.Request) -> web.Response:
            if request.query.get("arrivals"):
                return web.json_response(self.arrived)
            if request.query.get("channels"):  # bench/memory.py posts messages into them
                return web.json_response({c["name"]: i for i, c in self.channels.items()})
            return await super()._stats(request)

    await TimedPeer(port).start()
    await asyncio.Event().wait()  # until terminated


async def serve_warroom(port: int, peer_url: str, database: str | None = None) -> None:
    from bot.app import build_app
    from bot.chat.slack.platform import build_slack_platform
    from bot.server import listen, serve
    from bot.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        if database and "://" in database:
            url = database  # a database URL (bench/ingest.py --http on Postgres)
        else:
            url = f"sqlite+aiosqlite:///{database or f'{tmp}/bench.db'}"
        settings = Settings(
            database_url=url,
            slack_bot_token="xoxb-bench",
            slack_signing_secret=SECRET,
            slack_api_url=f"{peer_url}/api/",
        )
        app = await build_app(settings)
        app.add_platform(build_slack_platform(app, authorize=_authorize))
        profile = os.environ.get("WARROOM_BENCH_PROFILE")
        profiler = None
        if profile:
            import cProfile
            import signal

            profiler = cProfile.Profile()
            # The client terminates servers: stop uvicorn as it stops on SIGINT.
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            profiler.enable()
        try:
            await serve(app, listen(port, host="127.0.0.1"))  # exactly as `warroom run` serves
        finally:
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(profile)
            await app.close()


# -- client --------------------------------------------------------------------------------------


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_body(text: str, n: int, response_url: str, run: str = "0") -> str:
    """A signed slash command's form. Its trigger_id is unique per run: warroom records each
    command under it, and a trigger_id seen before is a redelivery, acknowledged and
    otherwise ignored (a second round with the same ids would be answered by no one)."""
    return urllib.parse.urlencode(
        {
            "token": "x",
            "team_id": "T0BENCH",
            "channel_id": "C0BENCH001",
            "user_id": "U0BENCH001",
            "command": "/incident",
            "text": text,
            "response_url": response_url,
            "trigger_id": f"1.{run}.{n}",
        }
    )


async def measure(
    port: int,
    text: str,
    response_url: str,
    total: int,
    concurrency: int,
    sent: dict[str, float],
    in_ack: dict[str, float],
) -> list[float]:
    """Ack latencies of `total` commands, `concurrency` at once; `sent` gets each command's
    send time (CLOCK_MONOTONIC) under the response_url token it carries, `in_ack` the ack
    latency of each command answered in its acknowledgement (help; a read in an idle channel),
    warm-up commands included, for which no response_url answer will come."""
    import aiohttp  # a leaner client than httpx: the client must not be the bottleneck

    url = f"http://127.0.0.1:{port}/slack/events"
    run = f"{''.join(ch for ch in text if ch.isalnum())}{time.monotonic_ns()}"
    latencies: list[float] = []
    counter = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)  # far past Slack's 3 s: measure, do not cut
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(n: int, record: bool) -> float:
            token = f"{run}-{n}"
            body = command_body(text, n, f"{response_url}/{token}", run)
            headers = signed(body)
            started = time.perf_counter()
            if record:
                sent[token] = time.monotonic()
            async with session.post(url, data=body.encode(), headers=headers) as response:
                answer = await response.read()
                elapsed = time.perf_counter() - started
                assert response.status == 200, response.status
            if answer:
                in_ack[token] = elapsed
                sent.pop(token, None)
            return elapsed

        for n in range(WARM_UP):  # warm up connections, caches, first auth
            await one(total + n, False)

        async def worker() -> None:
            for n in counter:
                latencies.append(await one(n, True))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (0 where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(
    kind: str, port: int, peer_url: str = "", *, database: str = ""
) -> subprocess.Popen[bytes]:
    args = [sys.executable, __file__, "--serve", kind, "--port", str(port), "--peer", peer_url]
    if database:
        args += ["--database", database]
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # a benchmark harness, not a test: polling a child's start is fine
    raise SystemExit(f"{url} did not come up")


def wait_answered(peer_url: str, count: int) -> None:
    deadline = time.monotonic() + 300
    while httpx.get(f"{peer_url}/_peer/stats").json()["responses"] < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"warroom did not answer {count} commands in time")
        time.sleep(0.05)


def answer_latencies(peer_url: str, sent: dict[str, float]) -> list[float]:
    """Seconds from sending each command to its answer reaching the response_url."""
    arrived = httpx.get(f"{peer_url}/_peer/stats", params={"arrivals": 1}, timeout=30).json()
    return [arrived[token] - at for token, at in sent.items() if token in arrived]


Row = dict[str, float]


def run_client(
    requests: int, commands: list[str], rounds: int, levels: list[int]
) -> dict[str, object]:
    peer_port, bare_port, ours_port = free_port(), free_port(), free_port()
    peer_url = f"http://127.0.0.1:{peer_port}"
    # The Slack stand-in gets a process of its own: its work is Slack's, not the bot's.
    servers = [
        start_server("peer", peer_port),
        start_server("bare", bare_port, peer_url),
        start_server("warroom", ours_port, peer_url),
    ]
    pids = {bare_port: servers[1].pid, ours_port: servers[2].pid}
    configs = [("bare", bare_port, commands[0])]
    configs += [(f"warroom {text}", ours_port, text) for text in commands]
    # label, concurrency -> one row per round; rounds interleave the apps so that noise from
    # other work on the machine falls on all alike.
    results: dict[tuple[str, int], list[Row]] = {}
    try:
        wait_ready(f"{peer_url}/api/auth.test")
        wait_ready(f"http://127.0.0.1:{bare_port}/healthz")
        wait_ready(f"http://127.0.0.1:{ours_port}/healthz")
        answered = 0  # response_url posts the peer should have seen so far
        for _ in range(rounds):
            for label, port, text in configs:
                for concurrency in levels:
                    sent: dict[str, float] = {}
                    in_ack: dict[str, float] = {}
                    cpu = cpu_seconds(pids[port])
                    latencies = asyncio.run(
                        measure(
                            port, text, f"{peer_url}/respond", requests, concurrency, sent, in_ack
                        )
                    )
                    row: Row = {
                        "p50_ms": pct(latencies, 50),
                        "p99_ms": pct(latencies, 99),
                        "max_ms": max(latencies) * 1000,
                    }
                    if label != "bare" and text != "help":  # help is answered in the ack
                        # Answered in the ack (a read in an idle channel): the ack is the
                        # answer. The rest: the work after the ack counts too, so wait for
                        # every answer, and let none of it spill into the next run.
                        answered += len(latencies) + WARM_UP - len(in_ack)
                        wait_answered(peer_url, answered)
                        answers = answer_latencies(peer_url, sent)
                        answers += [  # the measured commands, not the warm-up
                            v for k, v in in_ack.items() if int(k.rsplit("-", 1)[1]) < requests
                        ]
                        row["answer_p50_ms"] = pct(answers, 50)
                        row["answer_p99_ms"] = pct(answers, 99)
                        row["answered_in_ack"] = len(in_ack) / (len(latencies) + WARM_UP)
                    cpu = cpu_seconds(pids[port]) - cpu
                    row["cpu_ms_per_command"] = cpu / (requests + WARM_UP) * 1000
                    results.setdefault((label, concurrency), []).append(row)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
    return report(results, requests, rounds, levels, configs)


def report(
    results: dict[tuple[str, int], list[Row]],
    requests: int,
    rounds: int,
    levels: list[int],
    configs: list[tuple[str, int, str]],
) -> dict[str, object]:
    print(
        f"ack latency of POST /slack/events, signed /incident slash commands: "
        f"{requests} requests per run, median of {rounds} interleaved runs; answer = command "
        "sent to its response_url answer received; cpu = server CPU per command, including "
        "the work after the ack"
    )
    print(
        f"{'app':<18} {'conc':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'ans p50':>9} {'ans p99':>9} {'cpu ms':>7}"
    )
    medians: dict[str, dict[str, object]] = {}
    for (label, concurrency), runs in results.items():
        row = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        row["slowest_ack_ms"] = max(r["max_ms"] for r in runs)
        medians[f"{label} @{concurrency}"] = {"app": label, "concurrency": concurrency, **row}
        answers = (
            f"{row['answer_p50_ms']:>9.1f} {row['answer_p99_ms']:>9.1f}"
            if "answer_p50_ms" in row
            else f"{'-':>9} {'-':>9}"
        )
        print(
            f"{label:<18} {concurrency:>5} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{row['max_ms']:>8.2f} {answers} {row['cpu_ms_per_command']:>7.3f}"
        )
    ratios: dict[str, object] = {}
    for concurrency in levels:
        bare = results.get(("bare", concurrency))
        if not bare:
            continue
        for label, _, _ in configs[1:]:
            ours = results[label, concurrency]
            # Each round runs the apps one after the other: the ratio within a round sees the
            # same machine, so its median is the steadier figure when others load the machine.
            p99 = [o["p99_ms"] / b["p99_ms"] for o, b in zip(ours, bare, strict=True)]
            cpu = [
                o["cpu_ms_per_command"] / b["cpu_ms_per_command"]
                for o, b in zip(ours, bare, strict=True)
            ]
            ratios[f"{label} @{concurrency}"] = {
                "p99_over_bare": statistics.median(p99),
                "p99_over_bare_range": [min(p99), max(p99)],
                "cpu_over_bare": statistics.median(cpu),
            }
            print(
                f"{label} at {concurrency}: p99 / bare {statistics.median(p99):.2f} "
                f"(rounds {min(p99):.2f}-{max(p99):.2f}; budget 1.5 at 50), "
                f"cpu / bare {statistics.median(cpu):.2f}"
            )
    top = max(levels)
    for label, _, _ in configs:
        slowest = max(r["max_ms"] for r in results[label, top])
        verdict = "met" if slowest < SLACK_ACK_LIMIT_MS else "MISSED"
        print(
            f"slowest ack of {label} at {top} concurrent: {slowest:.0f} ms "
            f"(Slack drops after {SLACK_ACK_LIMIT_MS:.0f} ms: {verdict})"
        )
    document = {"requests": requests, "rounds": rounds, "runs": medians, "ratios": ratios}
    print(json.dumps(document))
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--commands", default="help,list,status ok", help="comma-separated slash command texts"
    )
    parser.add_argument(
        "--concurrency", default="1,50,500", help="comma-separated concurrent request counts"
    )
    parser.add_argument("--serve", choices=["bare", "warroom", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "bare":
        asyncio.run(serve_bare(args.port))
    elif args.serve == "peer":
        asyncio.run(serve_peer(args.port))
    elif args.serve == "warroom":
        asyncio.run(serve_warroom(args.port, args.peer, args.database))
    else:
        levels = [int(level) for level in args.concurrency.split(",")]
        run_client(args.requests, args.commands.split(","), args.rounds, levels)


if __name__ == "__main__":
    main()
