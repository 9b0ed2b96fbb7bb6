"""An alert offer on Mattermost: a post with a signed "Declare incident" button."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alert_payloads import alert, notification
from mattermost_bot import Bot, running_bot
from mattermost_peer import MattermostPeer, running_peer
from test_mattermost_paging import direct_posts

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


CATALOG = """\
teams:
  - {name: payments, members: [bob], oncall: [bob]}
  - name: web
    members: [alice]
    channel: web-alerts
    rotation:   # Mondays 08:00-08:30 only; the test's clock says Thursday noon
      - {members: [alice], start: 2025-12-29T08:00:00Z, length: 1d,
         restrict: {days: [mon], from: "08:00", to: "08:30"}}
services:
  - {name: checkout, owner: payments}
  - {name: frontend, owner: web}
"""


@pytest.fixture
async def oncall_bot(peer: MattermostPeer, sqlite_url: str, tmp_path: Path) -> AsyncIterator[Bot]:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "rules.yaml").write_text("default: {action: offer, to: oncall}\n")
    peer.add_channel("web-alerts")
    async with running_bot(
        peer,
        sqlite_url,
        catalog=str(tmp_path / "catalog.yaml"),
        alert_rules=str(tmp_path / "rules.yaml"),
    ) as running:
        yield running


async def test_offer_to_oncall_is_a_direct_message_whose_button_declares(
    oncall_bot: Bot, peer: MattermostPeer
) -> None:
    bot = oncall_bot
    assert bot.app.alerts is not None
    body = notification([alert(severity="warning", service="checkout")])
    outcome = await bot.app.alerts.handle(parse(json.dumps(body).encode(), "alertmanager"))
    assert outcome.action == "offer"
    # As Mattermost wants it: POST /channels/direct with the bot's and bob's ids, then post.
    direct = [c for c in peer.calls if c.path.endswith("/channels/direct")]
    assert [sorted(c.body) for c in direct] == [sorted([peer.bot["id"], peer.user("bob")["id"]])]
    assert peer.posts_in(peer.channel("incidents")["id"]) == []
    [offer] = direct_posts(peer, "bob")
    assert offer["message"].startswith("Alert for checkout (payments on call: @bob)")
    assert "Silence: http://alertmanager:9093/#/silences/new?filter=" in offer["message"]
    [button] = offer["props"]["attachments"][0]["actions"]
    assert button["name"] == "Declare incident"

    response = await peer.click(bot.http, "bob", offer["id"], "Declare incident")
    assert response.status_code == 200
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and (incident.declared_by, incident.service) == ("bob", "checkout")
    events = [e.text for e in await bot.app.store.timeline(1) if e.kind is EventKind.ALERT]
    assert events == ["Alert firing: HighErrorRate: Error rate above 5%"]
    redrawn = peer.posts[offer["id"]]
    assert "Declared as INC-1." in redrawn["message"]
    assert redrawn["props"]["attachments"] == []


async def test_offer_to_oncall_goes_to_the_team_channel_when_nobody_is_on_call(
    oncall_bot: Bot, peer: MattermostPeer
) -> None:
    bot = oncall_bot
    assert bot.app.alerts is not None
    body = notification([alert("PageSlow", severity="warning", service="frontend")])
    await bot.app.alerts.handle(parse(json.dumps(body).encode(), "alertmanager"))
    assert not [c for c in peer.calls if c.path.endswith("/channels/direct")]
    [offer] = peer.posts_in(peer.channel("web-alerts")["id"])
    assert offer["message"].startswith("Alert for frontend (web): PageSlow")
    assert "nobody is on call for web now" in offer["message"]
    assert offer["props"]["attachments"][0]["actions"][0]["name"] == "Declare incident"
