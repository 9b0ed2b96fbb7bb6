"""`warroom run` as a deploy treats it, on SQLite and Postgres: what was acknowledged is never
lost. N Slack message events and a status update, each answered 200, then SIGTERM: all are
recorded and the exit status is 0. Then SIGKILL in the middle of a burst: after a restart
everything acknowledged is recorded, and Slack's retries of acknowledged events once each."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import ALICE, SIGNING_SECRET, TEAM_ID, sign
from slack_peer import BOT_TOKEN, BOT_USER_ID, SlackPeer

from bot.core.model import Change, EventKind, Incident, Severity, State
from bot.store import migrate
from bot.store.sql import SqlStore

ROOT = Path(__file__).resolve().parents[3]
CHANNEL = "C0INCIDENT"
N = 200


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bot:
    """One `warroom run` process."""

    def __init__(self, url: str, peer: SlackPeer, tmp: Path) -> None:
        self.port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("WARROOM_", "SLACK_", "MATTERMOST_"))
        }
        env |= {
            "PYTHONPATH": str(ROOT),
            "WARROOM_DATABASE_URL": url,
            "WARROOM_HTTP_PORT": str(self.port),
            "WARROOM_PLAYBOOKS": str(tmp / "no-playbooks"),
            "WARROOM_JOURNAL": str(tmp / "journal.jsonl"),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": peer.api_url,
        }
        self.env, self.tmp = env, tmp
        self.process: asyncio.subprocess.Process | None = None
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=60)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=self.tmp,
            env=self.env,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.process.stderr is not None
        while True:  # the line an operator waits for
            line = (await asyncio.wait_for(self.process.stderr.readline(), 60)).decode()
            assert line, "warroom run exited before listening"
            if "listening on" in line:
                return

    def kill(self) -> None:
        """Whatever happened in the test, no process is left behind."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()

    async def stop(self, sig: int) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        await asyncio.wait_for(self.process.stderr.read(), 60)  # type: ignore[union-attr]
        return await asyncio.wait_for(self.process.wait(), 60)

    async def post(self, body: str, content_type: str, retry: int | None = None) -> int:
        headers = {"Content-Type": content_type, **sign(body)}
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        response = await self.http.post("/slack/events", content=body, headers=headers)
        return response.status_code

    async def event(self, i: int, retry: int | None = None) -> int:
        ts = f"{1_700_000_000 + i}.000100"
        body = json.dumps(
            {
                "token": "XXYYZZ",
                "team_id": TEAM_ID,
                "api_app_id": "A0APP00001",
                "event": {
                    "type": "message",
                    "channel": CHANNEL,
                    "user": ALICE,
                    "text": f"message {i:04d}",
                    "ts": ts,
                    "event_ts": ts,
                    "channel_type": "channel",
                },
                "type": "event_callback",
                "event_id": f"Ev{i:06d}",
                "event_time": 1_700_000_000 + i,
                "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
            }
        )
        return await self.post(body, "application/json", retry)

    async def command(self, text: str, trigger: str) -> int:
        form = {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "team_id": TEAM_ID,
            "channel_id": CHANNEL,
            "user_id": ALICE,
            "user_name": "alice",
            "command": "/incident",
            "text": text,
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": trigger,
        }
        return await self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")


async def prepare(url: str) -> None:
    """An incident whose channel the events are posted in."""
    store = SqlStore.from_url(url)
    try:
        await migrate.upgrade(store.engine)
        now = datetime.now(UTC)
        incident = await store.create_incident(
            Incident(0, "Checkout down", Severity.SEV2, State.INVESTIGATING, now, ALICE, "slack")
        )
        incident.channel_id, incident.channel_name = CHANNEL, "inc-1-checkout-down"
        await store.commit(Change(incident=incident))
    finally:
        await store.close()


async def recorded(url: str) -> tuple[list[str], list[str]]:
    store = SqlStore.from_url(url)
    try:
        events = await store.timeline(1)
        updates = await store.status_updates(1)
    finally:
        await store.close()
    return [e.text for e in events if e.kind is EventKind.MESSAGE], [u.text for u in updates]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_nothing_acknowledged_is_lost_to_sigterm_or_sigkill(
    backend: str, request: pytest.FixtureRequest, peer: SlackPeer, tmp_path: Path
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    await prepare(url)
    peer.add_channel("inc-1-checkout-down", members=(BOT_USER_ID,))
    bot = Bot(url, peer, tmp_path)
    request.addfinalizer(bot.kill)
    await bot.start()
    statuses = await asyncio.gather(
        *(bot.event(i) for i in range(N)), bot.command("status Rolled back", "1.2.3")
    )
    assert set(statuses) == {200}
    assert await bot.stop(signal.SIGTERM) == 0
    messages, updates = await recorded(url)
    assert sorted(messages) == [f"message {i:04d}" for i in range(N)]
    assert updates == ["Rolled back"]

    # SIGKILL in the middle of a burst.
    await bot.start()
    acked: list[int] = []
    a_third = asyncio.Event()

    async def send(i: int) -> None:
        try:
            if await bot.event(i) == 200:
                acked.append(i)
                if len(acked) >= N // 3:
                    a_third.set()
        except httpx.HTTPError:
            pass  # killed before it answered: not acknowledged, Slack retries it

    burst = [asyncio.ensure_future(send(i)) for i in range(N, 2 * N)]
    await a_third.wait()
    assert bot.process is not None
    bot.process.kill()
    await asyncio.gather(*burst)
    await bot.process.wait()
    assert N // 3 <= len(acked) < N, "the kill came after the burst"
    await bot.start()
    # Slack retries every event of the burst (acknowledged or not) with X-Slack-Retry-Num.
    retried = await asyncio.gather(*(bot.event(i, retry=1) for i in range(N, 2 * N)))
    assert set(retried) == {200}
    assert await bot.stop(signal.SIGTERM) == 0
    await bot.http.aclose()
    messages, _ = await recorded(url)
    assert len(messages) == len(set(messages))  # each retry recorded once
    assert {f"message {i:04d}" for i in acked} <= set(messages)
    assert len(messages) == 2 * N
