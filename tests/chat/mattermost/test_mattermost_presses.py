"""Mattermost button presses are handled before they are answered, in the transaction that
records the press under Mattermost's id for it (its trigger_id): the same request delivered
again (a retrying proxy) changes nothing and answers nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alert_payloads import alert, notification
from mattermost_bot import Bot, running_bot
from mattermost_peer import MattermostPeer, running_peer
from test_mattermost_paging import CATALOG, direct_posts

from bot.alerts_web import parse
from bot.core.model import EventKind


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as running:
        for name in ("alice", "bob", "carol"):
            running.add_user(name)
        yield running


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(
    request: pytest.FixtureRequest, peer: MattermostPeer, tmp_path: Path
) -> AsyncIterator[Bot]:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    url = request.getfixturevalue(f"{request.param}_url")
    async with running_bot(peer, url, catalog=str(tmp_path / "catalog.yaml")) as running:
        yield running


async def test_an_acknowledge_press_sent_twice_is_handled_once(
    bot: Bot, peer: MattermostPeer
) -> None:
    town = peer.channel("town-square")["id"]
    await bot.command("alice", town, "declare sev1 service:checkout Checkout down")
    [dm] = direct_posts(peer, "bob")
    assert (await peer.click(bot.http, "bob", dm["id"], "Acknowledge")).status_code == 200
    assert peer.posts[dm["id"]]["message"] == "bob acknowledged INC-1: escalation stopped."

    path, request = peer.action_requests[-1]
    again = await bot.http.post(path, json=request)
    assert again.status_code == 200 and again.json() == {}  # the first answer stands
    acks = [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.ACKNOWLEDGED]
    assert [e.actor for e in acks] == ["bob"]


async def test_an_offer_press_sent_twice_declares_once_and_answers_once(
    bot: Bot, peer: MattermostPeer
) -> None:
    assert bot.app.alerts is not None
    body = notification([alert(severity="warning", service="payments-api")])
    await bot.app.alerts.handle(parse(json.dumps(body).encode(), "alertmanager"))
    [offer] = peer.posts_in(peer.channel("incidents")["id"])
    response = await peer.click(bot.http, "bob", offer["id"], "Declare incident")
    assert response.status_code == 200 and "INC-1" in response.json()["ephemeral_text"]

    path, request = peer.action_requests[-1]
    again = await bot.http.post(path, json=request)
    assert again.status_code == 200 and again.json() == {}  # not "already declared"
    assert [i.number for i in await bot.app.store.list_incidents()] == [1]
