"""An alert offer on Mattermost: a post with a signed "Declare incident" button."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from alert_payloads import alert, notification
from mattermost_bot import Bot, running_bot
from mattermost_peer import MattermostPeer, running_peer

from bot.alerts_web import parse
from bot.core.model import EventKind


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as running:
        for name in ("alice", "bob"):
            running.add_user(name)
        yield running


@pytest.fixture
async def bot(peer: MattermostPeer, sqlite_url: str) -> AsyncIterator[Bot]:
    async with running_bot(peer, sqlite_url) as running:
        yield running


async def test_offer_button_declares_and_a_forged_one_is_refused(
    bot: Bot, peer: MattermostPeer
) -> None:
    assert bot.app.alerts is not None
    summary = "Error rate above 5% @channel"  # alert text comes from outside
    body = notification([alert(severity="warning", service="payments-api", summary=summary)])
    outcome = await bot.app.alerts.handle(parse(json.dumps(body).encode(), "alertmanager"))
    [offer] = peer.posts_in(peer.channel("incidents")["id"])
    assert offer["message"].startswith("Alert for an unknown service")
    assert "@channel" not in offer["message"].replace("`@channel`", "")
    [button] = offer["props"]["attachments"][0]["actions"]
    assert button["name"] == "Declare incident"
    assert button["integration"]["url"] == "http://warroom.test/mattermost/actions"

    button["integration"]["context"]["offer"] = outcome.group_id + 1  # signed for another
    assert (await peer.click(bot.http, "bob", offer["id"], "Declare incident")).status_code == 401
    button["integration"]["context"]["offer"] = outcome.group_id
    response = await peer.click(bot.http, "bob", offer["id"], "Declare incident")
    assert response.status_code == 200
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.declared_by == "bob"
    events = [e.text for e in await bot.app.store.timeline(1) if e.kind is EventKind.ALERT]
    assert events == ["Alert firing: HighErrorRate: Error rate above 5% @channel"]
    redrawn = peer.posts[offer["id"]]
    assert "Declared as INC-1." in redrawn["message"]
    assert redrawn["props"]["attachments"] == []
