"""Resident memory of the bot after 1,000 incidents of 20 messages each (budget: under
150 MiB), against a bare slack-bolt AsyncApp (process_before_response=True, only acks) that
served the same number of requests, both under uvicorn.

    /work/venv/bin/python bench/memory.py [--incidents 1000] [--messages 20]

Everything goes in over HTTP as Slack sends it: signed `/incident declare` commands (the
Web API and response_urls are the local Slack peer from tests/), then signed `message`
events in each incident channel. The bot runs on a fresh SQLite file with the shipped
playbooks. Prints VmRSS of both servers (and the bot's before any request) as a table and as
JSON; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from slack_ack import command_body, free_port, signed, start_server, wait_ready

BUDGET_MIB = 150.0
CONCURRENCY = 20


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def message_body(channel: str, n: int, text: str) -> str:
    ts = f"{1_700_000_000 + n // 1000}.{n % 1000:06d}"
    return json.dumps(
        {
            "token": "x",
            "team_id": "T0BENCH",
            "api_app_id": "A0BENCH",
            "type": "event_callback",
            "event_id": f"Ev{n:010d}",
            "event_time": 1_700_000_000,
            "event": {
                "type": "message",
                "channel": channel,
                "user": "U0BENCH002",
                "text": text,
                "ts": ts,
                "channel_type": "channel",
            },
            "authorizations": [{"team_id": "T0BENCH", "user_id": "U0BOT00001", "is_bot": True}],
        }
    )


async def post_all(port: int, bodies: list[tuple[str, str]]) -> None:
    url = f"http://127.0.0.1:{port}/slack/events"
    queue = iter(bodies)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:

        async def worker() -> None:
            for body, content_type in queue:
                headers = {**signed(body), "Content-Type": content_type}
                async with http.post(url, data=body.encode(), headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def wait_until(what: str, done: object, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)  # a benchmark harness: polling another process is fine


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    peer_port, bare_port, ours_port = free_port(), free_port(), free_port()
    peer_url = f"http://127.0.0.1:{peer_port}"
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "memory.db"
        servers = [
            start_server("peer", peer_port),
            start_server("bare", bare_port, peer_url),
            start_server("warroom", ours_port, peer_url, database=str(db)),
        ]
        try:
            wait_ready(f"{peer_url}/api/auth.test")
            wait_ready(f"http://127.0.0.1:{bare_port}/healthz")
            wait_ready(f"http://127.0.0.1:{ours_port}/healthz")
            idle = rss_mib(servers[2].pid)
            form = "application/x-www-form-urlencoded"
            declares = [
                (
                    command_body(
                        f"declare sev3 Incident number {n}", n, f"{peer_url}/respond/d{n}"
                    ),
                    form,
                )
                for n in range(args.incidents)
            ]
            started = time.monotonic()
            asyncio.run(post_all(ours_port, declares))
            wait_until(
                "the declarations",
                lambda: (
                    count(db, "SELECT count(*) FROM incident WHERE channel_id IS NOT NULL")
                    >= args.incidents
                ),
            )
            channels = httpx.get(f"{peer_url}/_peer/stats", params={"channels": 1}).json()
            incident_channels = sorted(i for name, i in channels.items() if name.startswith("inc-"))
            messages = [
                (
                    message_body(channel, n * len(incident_channels) + k, f"message {n}"),
                    "application/json",
                )
                for n in range(args.messages)
                for k, channel in enumerate(incident_channels)
            ]
            asyncio.run(post_all(ours_port, messages))
            wait_until(
                "the messages",
                lambda: (
                    count(db, "SELECT count(*) FROM timeline_event WHERE kind='message'")
                    >= len(messages)
                ),
            )
            elapsed = time.monotonic() - started
            # The bare app serves as many requests (it acks them all the same way).
            bare_bodies = [
                (command_body("list", n, f"{peer_url}/respond/b{n}"), form)
                for n in range(len(declares) + len(messages))
            ]
            asyncio.run(post_all(bare_port, bare_bodies))
            ours, bare = rss_mib(servers[2].pid), rss_mib(servers[1].pid)
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)
    requests = len(declares) + len(messages)
    print(
        f"resident memory (VmRSS) after {args.incidents} incidents x {args.messages} messages "
        f"({requests} signed requests over HTTP, {elapsed:.0f} s)"
    )
    print(f"{'server':<32} {'MiB':>7}")
    print(f"{'bare Bolt app, same requests':<32} {bare:>7.1f}")
    print(f"{'warroom before any request':<32} {idle:>7.1f}")
    print(f"{'warroom after':<32} {ours:>7.1f}")
    verdict = "met" if ours < BUDGET_MIB else "MISSED"
    print(
        f"warroom {ours:.1f} MiB (budget {BUDGET_MIB:.0f}: {verdict}), {ours - bare:.1f} over bare"
    )
    print(
        json.dumps(
            {
                "incidents": args.incidents,
                "messages_per_incident": args.messages,
                "bare_mib": bare,
                "warroom_idle_mib": idle,
                "warroom_mib": ours,
            }
        )
    )


if __name__ == "__main__":
    main()
