"""Paging on Mattermost end to end: a DM with an Acknowledge button (an interactive message
action), a repeat recorded but not sent, escalation on durable reminders, the first press
stops it and sets the acknowledged time."""

from __future__ import annotations

import copy as copy_module
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mattermost_bot import Bot, running_bot
from mattermost_peer import MattermostPeer, running_peer

from bot.core.clock import ManualClock
from bot.core.model import EventKind

CATALOG = """\
teams:
  - name: payments
    members: [bob, alice]
    rotation:
      - members: [bob, alice]
        start: 2025-12-29T09:00:00
        timezone: Europe/Zagreb
        length: 1w
    escalation: [carol]
    escalate_after: 5m
services:
  - name: checkout
    owner: payments
"""


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as peer:
        for name in ("alice", "bob", "carol"):
            peer.add_user(name)
        yield peer


@pytest.fixture
async def bot(peer: MattermostPeer, sqlite_url: str, tmp_path: Path) -> AsyncIterator[Bot]:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    async with running_bot(peer, sqlite_url, catalog=str(tmp_path / "catalog.yaml")) as bot:
        yield bot


def direct_posts(peer: MattermostPeer, username: str) -> list[dict]:
    """Posts in the bot's direct channel with `username` (named id__id, as Mattermost does)."""
    ids = sorted([peer.bot["id"], peer.user(username)["id"]])
    channel = next((c for c in peer.channels.values() if c["name"] == "__".join(ids)), None)
    return peer.posts_in(channel["id"]) if channel else []


async def test_page_escalate_acknowledge(bot: Bot, peer: MattermostPeer) -> None:
    clock = bot.app.clock
    assert isinstance(clock, ManualClock)
    town = peer.channel("town-square")["id"]
    await bot.command("alice", town, "declare sev1 service:checkout Checkout down")
    channel = peer.channel("inc-1-checkout-down")
    assert peer.user("bob")["id"] in peer.members[channel["id"]]
    [dm] = direct_posts(peer, "bob")
    assert "paged you into INC-1 (sev1): Checkout down. Join ~inc-1-checkout-down." in dm["message"]
    [action] = dm["props"]["attachments"][0]["actions"]
    assert action["name"] == "Acknowledge"
    assert action["integration"]["url"] == "http://warroom.test/mattermost/actions"

    clock.advance(minutes=2)
    await bot.command("alice", channel["id"], "page checkout")
    assert len(direct_posts(peer, "bob")) == 1  # recorded, not sent again
    messages = [p["message"] for p in peer.posts_in(channel["id"])]
    assert "bob was paged 2m 00s ago: recorded, not sent again." in messages

    clock.advance(minutes=3)
    assert await bot.app.ticker.tick() == 1  # type: ignore[union-attr]
    [carol_dm] = direct_posts(peer, "carol")
    assert "warroom paged you into INC-1" in carol_dm["message"]
    assert peer.user("carol")["id"] in peer.members[channel["id"]]

    clock.advance(minutes=1)
    response = await peer.click(bot.http, "bob", dm["id"], "Acknowledge")
    assert response.status_code == 200
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.acknowledged_at == clock.now()
    # The DM is replaced by the answer, without the button.
    assert peer.posts[dm["id"]]["message"] == "bob acknowledged INC-1: escalation stopped."
    assert peer.posts[dm["id"]]["props"] == {}
    acks = [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.ACKNOWLEDGED]
    assert [e.actor for e in acks] == ["bob"]

    await peer.click(bot.http, "carol", carol_dm["id"], "Acknowledge")
    assert peer.posts[carol_dm["id"]]["message"].startswith("INC-1 was already acknowledged at ")


async def test_a_forged_acknowledge_is_refused(bot: Bot, peer: MattermostPeer) -> None:
    town = peer.channel("town-square")["id"]
    await bot.command("alice", town, "declare sev1 service:checkout Checkout down")
    [dm] = direct_posts(peer, "bob")
    dm["props"]["attachments"][0]["actions"][0]["integration"]["context"]["sig"] = "0" * 32
    response = await peer.click(bot.http, "bob", dm["id"], "Acknowledge")
    assert response.status_code == 401
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.acknowledged_at is None


async def test_only_the_paged_person_can_press_their_acknowledge(
    bot: Bot, peer: MattermostPeer
) -> None:
    clock = bot.app.clock
    assert isinstance(clock, ManualClock)
    town = peer.channel("town-square")["id"]
    await bot.command("alice", town, "declare sev1 service:checkout Checkout down")
    [dm] = direct_posts(peer, "bob")
    # alice cannot press in bob's DM (the server checks she may read the channel) ...
    response = await peer.click(bot.http, "alice", dm["id"], "Acknowledge")
    assert response.status_code == 403
    # ... so she replays the signed button in a post of her own, which the server accepts.
    copy = await peer.user_posts("alice", town, "ack this")
    copy["props"] = copy_props = copy_module.deepcopy(dm["props"])
    response = await peer.click(bot.http, "alice", copy["id"], "Acknowledge")
    assert response.status_code == 200
    only_bob = "This page is for @bob: only they can acknowledge it."
    assert response.json() == {"ephemeral_text": only_bob}
    assert copy["props"] == copy_props and copy["message"] == "ack this"
    assert peer.posts[dm["id"]]["props"] == copy_props  # bob's DM keeps its button
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.acknowledged_at is None
    assert EventKind.ACKNOWLEDGED not in [e.kind for e in await bot.app.store.timeline(1)]
    # Rewriting the paged user in the replayed context breaks its signature.
    [action] = copy["props"]["attachments"][0]["actions"]
    context = action["integration"]["context"]
    action["integration"] = {**action["integration"], "context": {**context, "user": "alice"}}
    response = await peer.click(bot.http, "alice", copy["id"], "Acknowledge")
    assert response.status_code == 401
    # The escalation still runs: 5 minutes later carol is paged.
    clock.advance(minutes=5)
    assert await bot.app.ticker.tick() == 1  # type: ignore[union-attr]
    assert len(direct_posts(peer, "carol")) == 1
    # bob's own press acknowledges.
    response = await peer.click(bot.http, "bob", dm["id"], "Acknowledge")
    assert response.status_code == 200
    assert peer.posts[dm["id"]]["message"] == "bob acknowledged INC-1: escalation stopped."
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.acknowledged_at == clock.now()
