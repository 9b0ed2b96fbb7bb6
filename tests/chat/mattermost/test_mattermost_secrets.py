"""A scan of everything the Mattermost side logs and answers for the configured secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from mattermost_bot import running_bot
from mattermost_peer import COMMAND_TOKEN, TOKEN, MattermostPeer, running_peer


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as peer:
        peer.add_user("alice")
        yield peer


async def test_no_log_line_or_reply_shows_a_secret(
    peer: MattermostPeer, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_bot(peer, sqlite_url) as bot:
        square = str(peer.channel("town-square")["id"])
        answers = [
            await bot.command("alice", square, "declare x", token="guess"),
            await bot.command("alice", square, "declare sev2 Checkout down"),
            await bot.command("alice", square, "show INC-9"),
            await bot.http.post("/mattermost/actions", content=b"{bad"),
            await bot.http.post("/mattermost/dialog", content=json.dumps({"state": "a.b"})),
            await bot.http.get("/healthz"),
        ]
        scanned = caplog.text + "\n".join(a.text for a in answers)
        scanned += "\n".join(str(p) for p in peer.posts.values())
    assert caplog.records
    for secret in (TOKEN, COMMAND_TOKEN):
        assert secret not in scanned, secret
