"""Privacy and permissions over Mattermost, end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mattermost_bot import Bot, running_bot
from mattermost_peer import MattermostPeer, running_peer

from bot.core.model import Incident, Severity, State

TITLE = "Leaked credentials for payroll-db"


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as peer:
        for name in ("alice", "bob", "root"):
            peer.add_user(name)
        yield peer


@pytest.fixture
async def bot(peer: MattermostPeer, sqlite_url: str) -> AsyncIterator[Bot]:
    async with running_bot(peer, sqlite_url, admins="root") as bot:
        yield bot


async def test_outsiders_get_private_and_nothing_else(bot: Bot, peer: MattermostPeer) -> None:
    square = str(peer.channel("town-square")["id"])
    await bot.command("alice", square, f"declare sev2 --private {TITLE}")
    for text in ("list", "list --all"):
        answer = (await bot.command("bob", square, text)).json()["text"]
        assert "payroll" not in answer and "1 private incident" in answer
    for text in ("show INC-1", "timeline INC-1", "tasks INC-1", "postmortem INC-1"):
        answer = (await bot.command("bob", square, text)).json()
        assert answer == {"response_type": "ephemeral", "text": answer["text"]}
        assert answer["text"].startswith("INC-1 is private.")
        assert "payroll" not in answer["text"] and "alice" not in answer["text"]
    assert TITLE in (await bot.command("root", square, "show INC-1")).json()["text"]


async def test_another_platforms_incident_is_not_shown(bot: Bot, peer: MattermostPeer) -> None:
    await bot.app.store.create_incident(
        Incident(
            0,
            "Slack-side outage",
            Severity.SEV2,
            State.INVESTIGATING,
            bot.app.clock.now(),
            "U0ALICE001",
            "slack",
        )
    )
    square = str(peer.channel("town-square")["id"])
    answer = (await bot.command("bob", square, "show INC-1")).json()["text"]
    assert answer == "INC-1 was declared on slack: look it up there."
    assert "Slack-side" not in (await bot.command("bob", square, "list")).json()["text"]


async def test_a_passer_by_cannot_steer(bot: Bot, peer: MattermostPeer) -> None:
    square = str(peer.channel("town-square")["id"])
    await bot.command("alice", square, "declare sev2 Checkout down")
    channel = peer.channel("inc-1-checkout-down")["id"]
    for text in ("role commander @bob", "sev sev4", "resolve false alarm"):
        answer = (await bot.command("bob", channel, text)).json()
        assert answer["response_type"] == "ephemeral"
        assert answer["text"].startswith("Only the commander (@alice)")
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.is_open
    assert (await bot.command("root", channel, "sev sev1")).json()["text"] == ""
