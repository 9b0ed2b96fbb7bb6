"""Mattermost adapter figures against the local peer (tests/mattermost_peer.py), in process.

    python bench/mattermost.py [--requests 500]

Prints: slash command answer latency (/incident list, sequential and 50 at once), declare
latency with its REST calls, and websocket ingest throughput. The peer answers in well under
a millisecond, so the figures are our own overhead plus the driver's thread hops.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's bot, and the test peer

from mattermost_bot import running_bot  # noqa: E402
from mattermost_peer import running_peer  # noqa: E402

from bot.chat.mattermost import events  # noqa: E402
from bot.core.model import EventKind  # noqa: E402


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms  p99 {p99 * 1000:.2f} ms"


async def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with (
            running_peer() as peer,
            running_bot(peer, f"sqlite+aiosqlite:///{folder}/bench.db", drain_each=False) as bot,
        ):
            for name in ("alice", "bob"):
                peer.add_user(name)
            square = peer.channel("town-square")["id"]

            async def timed(text: str) -> float:
                started = time.perf_counter()
                response = await bot.command("alice", square, text)
                assert response.status_code == 200
                return time.perf_counter() - started

            await timed("list")
            sequential = [await timed("list") for _ in range(requests)]
            print(f"/incident list, {requests} sequential: {percentiles(sequential)}")
            concurrent: list[float] = []
            for _ in range(max(1, requests // 50)):
                concurrent += await asyncio.gather(*(timed("list") for _ in range(50)))
            print(f"/incident list, 50 at once: {percentiles(concurrent)}")

            declares = []
            before = len(peer.calls)
            for n in range(20):
                declares.append(await timed(f"declare sev2 Bench incident {n}"))
            calls = (len(peer.calls) - before) / 20
            print(
                f"/incident declare, 20 sequential: {percentiles(declares)}, "
                f"{calls:.0f} REST calls each"
            )

            await bot.platform.start()
            await bot.platform.socket.connected.wait()
            channel_id = peer.channel("inc-1-bench-incident-0")["id"]
            started = time.perf_counter()
            posts = [await peer.user_posts("bob", channel_id, f"msg {i}") for i in range(requests)]
            last = posts[-1]["id"]
            await bot.seen.wait_for(lambda e: isinstance(e, events.Posted) and e.post_id == last)
            await bot.platform.follower.drain()
            elapsed = time.perf_counter() - started
            recorded = [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.MESSAGE]
            assert len(recorded) == requests
            print(
                f"websocket ingest: {requests} posts in {elapsed:.2f} s "
                f"({requests / elapsed:.0f}/s)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    asyncio.run(main(parser.parse_args().requests))
