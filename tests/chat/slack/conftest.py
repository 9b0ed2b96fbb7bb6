"""Slack fixtures: the local Slack peer, a SlackChat against it, and the whole bot (Bolt app
under Starlette) receiving requests signed exactly as Slack signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_bolt.authorization import AuthorizeResult
from slack_peer import (
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    TEAM_ID,
    RecordingSleep,
    SlackPeer,
    make_slack_chat,
    slack_escape,
)

from bot.app import App, build_app
from bot.chat.slack.platform import SlackPlatform, build_slack_platform
from bot.core.clock import ManualClock
from bot.settings import Settings
from bot.web import build_web_app

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ANNOUNCE = "C0ANNOUNCE"
GENERAL = "C0GENERAL1"
ALICE = "U0ALICE001"
BOB = "U0BOB00002"


def sign(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict:
    """Headers exactly as Slack sends them: v0=HMAC_SHA256(secret, "v0:{ts}:{body}")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


async def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None):
    # Stands in for Bolt's auth.test round trip, which needs Slack.
    return AuthorizeResult(
        enterprise_id=enterprise_id,
        team_id=team_id or TEAM_ID,
        bot_token=BOT_TOKEN,
        bot_id=BOT_ID,
        bot_user_id=BOT_USER_ID,
    )


class SlackBot:
    """The real app end to end: HTTP in through Starlette and Bolt, Web API out to the peer."""

    def __init__(self, app: App, platform: SlackPlatform, peer: SlackPeer, sleep: RecordingSleep):
        self.app = app
        self.platform = platform
        self.peer = peer
        self.sleep = sleep
        self.web = build_web_app(app.store, app.metrics, platform.routes())
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.web), base_url="http://warroom.test"
        )
        self._triggers = 0

    async def post(self, body: str, content_type: str, headers: dict | None = None):
        signed = sign(body) if headers is None else headers
        return await self.http.post(
            "/slack/events",
            content=body,
            headers={"Content-Type": content_type, **signed},
        )

    async def command(
        self, text: str, *, user: str = ALICE, channel: str = GENERAL, trigger_id: str | None = None
    ) -> httpx.Response:
        self._triggers += 1
        form = {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "team_id": TEAM_ID,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/incident",
            "text": text,
            "api_app_id": "A0APP00001",
            "is_enterprise_install": "false",
            "response_url": self.peer.response_url(f"cmd{self._triggers}"),
            "trigger_id": trigger_id or f"13345224609.738474920.{self._triggers}",
        }
        return await self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")

    async def typed(self, typed: str, **kwargs: Any) -> httpx.Response:
        """`/incident TYPED` as a person types it: Slack escapes the text before sending
        (should_escape), resolving the workspace's people and channels it knows."""
        users = {"alice": ALICE, "bob": BOB}
        channels = {"general": GENERAL, "announcements": ANNOUNCE}
        return await self.command(slack_escape(typed, users, channels), **kwargs)

    async def interact(self, payload: dict[str, Any]) -> httpx.Response:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded")

    async def event(
        self, event: dict[str, Any], *, event_id: str, retry_num: int | None = None
    ) -> httpx.Response:
        body = json.dumps(
            {
                "token": "XXYYZZ",
                "team_id": TEAM_ID,
                "api_app_id": "A0APP00001",
                "event": event,
                "type": "event_callback",
                "event_id": event_id,
                "event_time": 1700000000,
                "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
            }
        )
        headers = sign(body)
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(body, "application/json", headers)

    async def settle(self) -> None:
        """Wait for the work the listeners handed off after acknowledging."""
        await self.platform.drain()
        failures = list(self.platform.listeners.worker.failures)
        assert not failures, f"background work failed: {failures!r}"

    async def close(self) -> None:
        await self.http.aclose()
        await self.app.close()


def acked(response: httpx.Response) -> dict[str, Any]:
    """The answer a command got in its acknowledgement (`help` and reads answered at once)."""
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def peer() -> AsyncIterator[SlackPeer]:
    async with SlackPeer() as running:
        yield running


@pytest.fixture
def slack_chat(peer: SlackPeer):
    return make_slack_chat(peer)


async def start_bot(
    database_url: str,
    peer: SlackPeer,
    *,
    clock: ManualClock | None = None,
    sleep: RecordingSleep | None = None,
    journal: str | None = None,
    playbooks: str | None = None,
) -> SlackBot:
    """The bot on a database; `clock` and `sleep` shared by replicas of one test."""
    settings = Settings(
        database_url=database_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=peer.api_url,
        announce_channel=ANNOUNCE,
        # Where events are spooled during a database outage: never the working directory.
        journal=journal or str(Path(tempfile.mkdtemp(prefix="warroom-test-")) / "journal.jsonl"),
        # Adapter tests pin exact posts: run without the shipped playbooks (a missing folder
        # is an empty library). Playbook behaviour has its own tests.
        playbooks=playbooks or str(Path(__file__).parent / "no-playbooks"),
        _env_file=None,
    )
    app = await build_app(settings, clock=clock or ManualClock())
    sleep = sleep or RecordingSleep()
    platform = build_slack_platform(app, authorize=authorize, sleep=sleep)
    app.add_platform(platform)
    return SlackBot(app, platform, peer, sleep)


@pytest.fixture
async def bot(sqlite_url: str, peer: SlackPeer) -> AsyncIterator[SlackBot]:
    running = await start_bot(sqlite_url, peer)
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def any_db_bot(request: pytest.FixtureRequest, peer: SlackPeer) -> AsyncIterator[SlackBot]:
    running = await start_bot(request.getfixturevalue(f"{request.param}_url"), peer)
    try:
        yield running
    finally:
        await running.close()
