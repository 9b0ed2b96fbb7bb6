"""The durable path (outbox rows in the command's transaction, delivered by the local worker
the moment it commits) against the direct path (chat calls made inline, as before issue
#10: no transaction around the command, each change committed before the chat calls that
follow it), in the same run, against the local Slack peer (tests/slack_peer.py), on
SQLite (or --url Postgres).

    python bench/durable.py [--rounds 40] [--url postgresql+asyncpg://.../db] [--in-process]

Two scenarios, rounds alternating the two paths so that machine load hits both alike:

- "local": the peer answers at once. Declare to the last set-up call (channel, invite,
  topic, summary, pin, announcement, checklist) and status to its post reaching Slack, p50
  and p90; durable/direct at p50 (issue #10's budget: at most 1.10).
- "20ms": every Web API call takes 20 ms (issue #13's row). The declaration's chain (the
  longest run of calls each sent after the one before was answered), and our own time
  beyond the critical path: declare-to-reply minus the platform's own time along that chain
  (each call's time at the peer: its 20 ms and its answering; budget: < 15 ms, chain 3), the
  median of the rounds'. Beside it, the same less the chain's loopback floor: a bare aiohttp
  call to the peer and back, less the peer's time on it, measured in the same run, once per
  link (the hop between two processes, which the budget's figure counts as ours).

The peer runs in a process of its own (as Slack's servers are elsewhere): its work of
parsing and answering calls is not charged to warroom's time or CPU. `--in-process` runs it on
the bench's own loop, as the tests do. Times are the peer's (when a call arrived, when it was
answered), on CLOCK_MONOTONIC, which every process shares.

The declaration runs the shipped `default` playbook (sev3), so it posts a checklist too.
Between measured commands the bench waits (untimed) until the durable worker has recorded
what it delivered, so that neither path pays for the other's leftovers. CPU per round is
printed too: the durable path records each delivery after the call, off the reply's path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's bot, and the test peer

import aiohttp  # noqa: E402
from scratch import scratch_database  # noqa: E402  (bench/, the script's own folder)
from slack_peer import BOT_TOKEN, Call, RecordingSleep, SlackPeer  # noqa: E402

from bot.app import App, build_app  # noqa: E402
from bot.chat.slack.platform import build_slack_platform  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.core.commands import parse  # noqa: E402
from bot.core.model import Invocation  # noqa: E402
from bot.settings import Settings  # noqa: E402

PATHS = ("direct", "durable")
SETUP = ("conversations.create", "pins.add")  # the first and (one of) the last set-up calls


async def authorize(enterprise_id, team_id, user_id):  # type: ignore[no-untyped-def]
    from slack_bolt.authorization import AuthorizeResult

    return AuthorizeResult(enterprise_id=None, team_id="T1", bot_token=BOT_TOKEN)


async def make(url: str, api_url: str, *, durable: bool, folder: str) -> App:
    settings = Settings(
        database_url=url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret="secret",
        slack_api_url=api_url,
        announce_channel="C0ANNOUNCE",
        playbooks=str(ROOT / "playbooks"),
        journal=f"{folder}/journal-{durable}.jsonl",
        _env_file=None,
    )
    # The system clock: reminders fall due in hours, and APScheduler's ticker starts now.
    app = await build_app(settings, clock=SystemClock())
    if not durable:
        app.outbox = None  # chat calls inline, as the direct path made them
        app.router.deliveries = None
    app.add_platform(build_slack_platform(app, authorize=authorize, sleep=RecordingSleep()))
    app.start_reminders()
    return app


def critical_path(calls: list[Call]) -> tuple[int, float]:
    """The longest run of calls each sent after the previous one was answered: how many
    calls it has (the chain), and the platform's own time along it, each call weighed by how
    long the peer took over it (its latency and its answering: Slack's, not warroom's)."""
    depth: list[int] = []
    took: list[float] = []
    for i, call in enumerate(calls):
        before = [j for j in range(i) if (calls[j].answered or 0) <= call.started]
        depth.append(1 + max((depth[j] for j in before), default=0))
        own = (call.answered or call.started) - call.started
        took.append(own + max((took[j] for j in before), default=0.0))
    return max(depth, default=0), max(took, default=0.0)


async def command(app: App, ctx: Invocation, text: str) -> None:
    """A command as each path runs it. Durable: one transaction for the command and its
    outbox rows, delivered once it commits. Direct: as warroom ran commands before the outbox
    (issue #10's "current direct path"): no transaction around the command, so each change
    commits as it is made and the chat calls go between the commits."""
    if app.outbox is None:
        await app.router.run(ctx, parse(text))
    else:
        await app.router.handle(ctx, text)


async def idle(app: App) -> None:
    if app.outbox is not None:
        await app.outbox.deliver_due()


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


class LocalPeer:
    """The peer on the bench's own loop (`--in-process`)."""

    def __init__(self, peer: SlackPeer) -> None:
        self.peer = peer
        self.api_url = peer.api_url

    async def count(self) -> int:
        return len(self.peer.calls)

    async def calls(self, since: int) -> list[Call]:
        return self.peer.calls[since:]

    async def set_latency(self, seconds: float) -> None:
        self.peer.latency = seconds

    async def wait_posted(self, since: int, channel: str) -> None:
        def check() -> bool:
            return any(
                c.method == "chat.postMessage" and c.params.get("channel") == channel
                for c in self.peer.calls[since:]
            )

        await self.peer.wait_for(check)


class RemotePeer:
    """The peer in a process of its own, asked over its `/_peer/stats` endpoint."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session
        self.api_url = f"{url}/api/"

    async def _get(self, **query: Any) -> Any:
        async with self.session.get(f"{self.url}/_peer/stats", params=query) as response:
            return await response.json()

    async def count(self) -> int:
        return int((await self._get())["calls"])

    async def calls(self, since: int) -> list[Call]:
        return [
            Call(
                c["method"],
                {"channel": c["channel"]},
                None,
                c["outcome"],
                c["started"],
                c["answered"],
            )
            for c in await self._get(calls_since=since)
        ]

    async def set_latency(self, seconds: float) -> None:
        await self._get(latency=seconds)

    async def wait_posted(self, since: int, channel: str) -> None:
        await self._get(posted_since=since, channel=channel)


async def serve_peer(port: int) -> None:
    from aiohttp import web

    class BenchPeer(SlackPeer):
        async def _stats(self, request: web.Request) -> web.Response:
            q = request.query
            if "calls_since" in q:
                return web.json_response(
                    [
                        {
                            "method": c.method,
                            "channel": c.params.get("channel"),
                            "outcome": c.outcome,
                            "started": c.started,
                            "answered": c.answered,
                        }
                        for c in self.calls[int(q["calls_since"]) :]
                    ]
                )
            if "latency" in q:
                self.latency = float(q["latency"])
            if "posted_since" in q:
                since, channel = int(q["posted_since"]), q["channel"]
                await self.wait_for(
                    lambda: any(
                        c.method == "chat.postMessage" and c.params.get("channel") == channel
                        for c in self.calls[since:]
                    )
                )
            return await super()._stats(request)

    await BenchPeer(port).start()
    await asyncio.Event().wait()  # until terminated


async def loopback(peer: Any, n: int = 60) -> float:
    """The floor of one link of the chain, in ms: a bare aiohttp POST to the peer and its
    answer back, less the peer's own time on it (median of `n`). On this machine the hop
    between two processes over loopback is far from free, and the own time counts it once
    per link (its sending and its answer reaching us): the peer's time is only its own."""
    rtts: list[float] = []
    async with aiohttp.ClientSession() as session:
        before = await peer.count()
        for _ in range(n + 10):
            started = time.perf_counter()
            async with session.post(
                f"{peer.api_url}auth.test", headers={"Authorization": f"Bearer {BOT_TOKEN}"}
            ) as response:
                await response.read()
            rtts.append(time.perf_counter() - started)
        calls = await peer.calls(before)
    hops = [
        rtt - ((c.answered or c.started) - c.started)
        for rtt, c in list(zip(rtts, calls, strict=True))[10:]  # after a warm-up
    ]
    return statistics.median(hops) * 1000


async def scenario(apps: dict[str, App], peer: Any, rounds: int, tag: str) -> dict[str, Any]:
    figures: dict[str, dict[str, list[float]]] = {
        name: {"declare": [], "reply": [], "status": [], "chain": [], "cpu": [], "own": []}
        for name in apps
    }
    for n in range(rounds):
        for name, app in apps.items() if n % 2 else reversed(apps.items()):
            f = figures[name]
            user = Invocation("U0ALICE001", "slack", "C0GENERAL1")
            before = await peer.count()
            cpu, started = time.process_time(), time.perf_counter()
            await command(app, user, f"declare sev3 Bench {tag} {name} {n}")
            replied = time.perf_counter()
            await idle(app)
            f["cpu"].append(time.process_time() - cpu)
            calls = await peer.calls(before)
            made = [c.method for c in calls]
            assert all(m in made for m in SETUP) and made.count("chat.postMessage") >= 3, made
            last = max(c.answered or replied for c in calls)
            f["declare"].append(last - started)
            f["reply"].append(replied - started)
            links, platform = critical_path(calls)
            f["chain"].append(links)
            f["own"].append(replied - started - platform)
            incident = (await app.store.list_incidents(limit=1))[0]
            assert incident.channel_id and incident.channel_id.startswith("C"), incident
            here = Invocation("U0ALICE001", "slack", incident.channel_id)
            before = await peer.count()
            started = time.perf_counter()
            await command(app, here, f"status Bench {n}")
            await peer.wait_posted(before, incident.channel_id)
            post = next(
                c
                for c in await peer.calls(before)
                if c.method == "chat.postMessage" and c.params.get("channel") == incident.channel_id
            )
            f["status"].append((post.answered or time.perf_counter()) - started)
            await idle(app)
    return {
        name: {
            "declare_p50_ms": p(f["declare"], 0.5),
            "declare_p90_ms": p(f["declare"], 0.9),
            "reply_p50_ms": p(f["reply"], 0.5),
            "status_p50_ms": p(f["status"], 0.5),
            "status_p90_ms": p(f["status"], 0.9),
            "chain": int(statistics.median(f["chain"])),
            "own_time_beyond_critical_path_ms": p(f["own"], 0.5),
            "cpu_per_round_ms": statistics.median(f["cpu"]) * 1000,
        }
        for name, f in figures.items()
    }


@contextlib.asynccontextmanager
async def running_peer(in_process: bool) -> AsyncIterator[Any]:
    if in_process:
        async with SlackPeer() as peer:
            yield LocalPeer(peer)
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve-peer",
        str(port),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        async with aiohttp.ClientSession() as session:
            remote = RemotePeer(f"http://127.0.0.1:{port}", session)
            for _ in range(300):  # its start: a benchmark harness may poll
                try:
                    await remote.count()
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            yield remote
    finally:
        child.terminate()
        await child.wait()


async def main(rounds: int, url: str | None, latency_ms: float, in_process: bool) -> dict[str, Any]:
    results: dict[str, Any] = {
        "rounds": rounds,
        "database": "postgresql" if url else "sqlite",
        "peer": "in process" if in_process else "own process",
    }
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as scratch:
        async with running_peer(in_process) as peer:
            apps = {}
            for name in PATHS:
                # Each path a database of its own (on Postgres a scratch one, dropped after):
                # never rows another run left behind for the worker to claim mid-measurement.
                db = (
                    scratch.enter_context(scratch_database(url))
                    if url
                    else f"sqlite+aiosqlite:///{folder}/{name}.db"
                )
                apps[name] = await make(db, peer.api_url, durable=name == "durable", folder=folder)
            try:
                await scenario(apps, peer, 3, "warm-up")
                results["loopback_ms"] = await loopback(peer)
                results["local"] = await scenario(apps, peer, rounds, "local")
                await peer.set_latency(latency_ms / 1000)
                results["20ms"] = await scenario(apps, peer, max(rounds // 2, 5), "slow")
            finally:
                for app in apps.values():
                    await app.close()
    local = results["local"]
    for what in ("declare", "status"):
        ratio = local["durable"][f"{what}_p50_ms"] / local["direct"][f"{what}_p50_ms"]
        results[f"{what}_durable_over_direct_p50"] = round(ratio, 3)
    results["latency_ms"] = latency_ms
    slow = results["20ms"]["durable"]
    slow["own_time_beyond_critical_path_and_loopback_ms"] = (
        slow["own_time_beyond_critical_path_ms"] - slow["chain"] * results["loopback_ms"]
    )
    results["load_average"] = os.getloadavg()
    return results


def table(r: dict[str, Any]) -> str:
    lines = [
        f"database {r['database']}, peer: {r['peer']}, {r['rounds']} rounds, load average "
        + ", ".join(f"{x:.2f}" for x in r["load_average"]),
        "",
        "| scenario | path | declare→last call p50 (p90) | reply p50 | status→post p50 (p90)"
        " | chain | own time beyond chain | CPU per round |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for scenario_name in ("local", "20ms"):
        for name in PATHS:
            f = r[scenario_name][name]
            own = f.get("own_time_beyond_critical_path_ms")
            lines.append(
                f"| {scenario_name} | {name} | {f['declare_p50_ms']:.1f}"
                f" ({f['declare_p90_ms']:.1f}) ms | {f['reply_p50_ms']:.1f} ms"
                f" | {f['status_p50_ms']:.1f}"
                f" ({f['status_p90_ms']:.1f}) ms | {f['chain']} | "
                + (f"{own:.1f} ms" if own is not None else "-")
                + f" | {f['cpu_per_round_ms']:.1f} ms |"
            )
    lines += [
        "",
        f"durable/direct at p50 (local): declare {r['declare_durable_over_direct_p50']:.2f},"
        f" status {r['status_durable_over_direct_p50']:.2f} (budget 1.10)",
        f"{r['latency_ms']:.0f} ms per call: durable chain {r['20ms']['durable']['chain']}"
        f" (budget 3), own time beyond it"
        f" {r['20ms']['durable']['own_time_beyond_critical_path_ms']:.1f} ms (budget < 15 ms)",
        f"loopback floor: {r['loopback_ms']:.2f} ms per link (a bare aiohttp call to the peer"
        " and back, less the peer's time); own time beyond the chain and its loopback"
        f" {r['20ms']['durable']['own_time_beyond_critical_path_and_loopback_ms']:.1f} ms",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--url", help="a Postgres server (the bench makes a scratch database there, then drops it)"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--in-process", action="store_true", help="the peer on the bench's loop")
    parser.add_argument("--serve-peer", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_peer:
        asyncio.run(serve_peer(args.serve_peer))
        sys.exit(0)
    figures = asyncio.run(main(args.rounds, args.url, args.latency_ms, args.in_process))
    print(table(figures))
    print(json.dumps(figures))
