"""Paging on Slack end to end: the on-call gets a DM with an Acknowledge button, a repeat
within the window is recorded but not sent, escalation runs on durable reminders, the first
press stops it and sets the acknowledged time."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ALICE, BOB, GENERAL, TEAM_ID, SlackBot, authorize
from slack_peer import RecordingSleep, SlackPeer
from slack_sdk.models.blocks import Block

from bot.app import build_app
from bot.chat.slack.manifest import bot_scopes
from bot.chat.slack.platform import build_slack_platform
from bot.core.clock import ManualClock
from bot.core.model import EventKind
from bot.settings import Settings

CATALOG = f"""\
people:
  - {{name: bob, slack: {BOB}}}
  - {{name: alice, slack: {ALICE}}}
teams:
  - name: payments
    members: [bob, alice]
    rotation:
      - members: [bob, alice]
        start: 2025-12-29T09:00:00
        timezone: Europe/Zagreb
        length: 1w
    escalation:
      repeat: 1
      levels:
        - targets: [{{oncall: true}}]
          after: 5m
        - targets: [{{person: alice}}]
          after: 10m
services:
  - name: checkout
    owner: payments
    runbook: https://wiki.example.com/checkout
"""


async def start_paging_bot(database_url: str, peer: SlackPeer, tmp_path: Path) -> SlackBot:
    """The bot with CATALOG: bob is on call for checkout this week."""
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    settings = Settings(
        database_url=database_url,
        slack_bot_token="xoxb-test",
        slack_signing_secret="8f742231b10e8888abcd99yyyzzz85a5",
        slack_api_url=peer.api_url,
        catalog=str(tmp_path / "catalog.yaml"),
        playbooks=str(tmp_path / "no-playbooks"),
        _env_file=None,
    )
    app = await build_app(settings, clock=ManualClock())
    sleep = RecordingSleep()
    platform = build_slack_platform(app, authorize=authorize, sleep=sleep)
    app.add_platform(platform)
    return SlackBot(app, platform, peer, sleep)


@pytest.fixture
async def paging_bot(sqlite_url: str, peer: SlackPeer, tmp_path: Path) -> AsyncIterator[SlackBot]:
    bot = await start_paging_bot(sqlite_url, peer, tmp_path)
    try:
        yield bot
    finally:
        await bot.close()


_PRESSES = itertools.count(1)


def press(user: str, dm: str, ts: str, value: str, url: str) -> dict:
    """A block_actions payload for an Acknowledge button (its value as the DM carried it),
    as Slack sends it: every press has a trigger_id of its own."""
    n = next(_PRESSES)
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "u", "name": "u", "team_id": TEAM_ID},
        "api_app_id": "A0APP00001",
        "token": "XXYYZZ",
        "container": {"type": "message", "message_ts": ts, "channel_id": dm, "is_ephemeral": False},
        "trigger_id": f"12321423423.333649436676.d8c1bb837935619ccad0f624c448{n:04d}",
        "team": {"id": TEAM_ID, "domain": "example"},
        "channel": {"id": dm, "name": "directmessage"},
        "message": {"type": "message", "ts": ts, "text": "page", "bot_id": "B0BOT00001"},
        "response_url": url,
        "actions": [
            {
                "action_id": "page_ack",
                "block_id": "ack",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "value": value,
                "type": "button",
                "action_ts": f"1548426417.{840180 + n}",
            }
        ],
    }


def dms(peer: SlackPeer, user: str) -> list[dict]:
    return [c for c in peer.calls_to("chat.postMessage") if c["channel"] == f"D{user[1:]}"]


async def test_page_escalate_acknowledge(paging_bot: SlackBot) -> None:
    bot, peer, clock = paging_bot, paging_bot.peer, paging_bot.app.clock
    assert isinstance(clock, ManualClock)
    await bot.command("declare sev1 service:checkout Checkout down", user=ALICE, channel=GENERAL)
    await bot.settle()
    incident = (await bot.app.store.list_incidents())[0]
    channel = incident.channel_id
    # bob is on call this week: invited and sent a DM with an Acknowledge button (the
    # manifest asks for the scope that DM needs).
    assert "im:write" in bot_scopes()
    assert BOB in peer.channels[channel]["members"]
    [dm] = dms(peer, BOB)
    assert "paged you into INC-1 (sev1): Checkout down" in dm["text"]
    for block in dm["blocks"]:
        assert Block.parse(block) is not None  # valid Block Kit
    button = dm["blocks"][1]["elements"][0]
    assert (button["action_id"], button["value"], button["text"]["text"]) == (
        "page_ack", f"1:{BOB}", "Acknowledge",
    )  # fmt: skip
    texts = peer.texts(channel)
    assert f"Paging payments (owner of checkout) on call: <@{BOB}>." in texts
    assert "Runbook for checkout: https://wiki.example.com/checkout" in texts

    # Paging the team again a minute later: recorded, not sent again.
    clock.advance(minutes=1)
    await bot.command("page payments", user=ALICE, channel=channel)
    await bot.settle()
    assert len(dms(peer, BOB)) == 1
    assert f"<@{BOB}> was paged 1m 00s ago: recorded, not sent again." in peer.texts(channel)
    paged = [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.PAGED]
    assert [e.data.get("sent") for e in paged] == [True, False]

    # Nobody acknowledged within 5 minutes: the durable reminder escalates to alice.
    clock.advance(minutes=4)
    assert await bot.app.ticker.tick() == 1  # type: ignore[union-attr]
    await bot.settle()
    assert len(dms(peer, ALICE)) == 1
    assert f"Nobody acknowledged INC-1 within 5m 00s: escalating to <@{ALICE}> (payments)." in (
        peer.texts(channel)
    )

    # bob presses Acknowledge in his DM: escalation stops, the incident is acknowledged.
    clock.advance(minutes=2)
    acked_at = clock.now()
    response = await bot.interact(
        press(BOB, f"D{BOB[1:]}", "1700000001.000100", f"1:{BOB}", peer.response_url("ack1"))
    )
    assert response.status_code == 200
    await bot.settle()
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.acknowledged_at == acked_at
    [answer] = [r for r in peer.responses if r["url"] == "ack1"]
    assert answer["replace_original"] is True
    assert answer["text"] == f"<@{BOB}> acknowledged INC-1: escalation stopped."
    assert f"<@{BOB}> acknowledged INC-1: escalation stopped." in peer.texts(channel)
    assert [
        e.actor for e in await bot.app.store.timeline(1) if e.kind is EventKind.ACKNOWLEDGED
    ] == [BOB]

    # Later steps of the policy (the repeat) never fire; a second press is told it was done.
    clock.advance(timedelta(hours=1))
    assert await bot.app.ticker.tick() == 0  # type: ignore[union-attr]
    assert len(dms(peer, ALICE)) == 1 and len(dms(peer, BOB)) == 1
    await bot.interact(
        press(ALICE, f"D{ALICE[1:]}", "1700000002.000100", f"1:{ALICE}", peer.response_url("ack2"))
    )
    await bot.settle()
    [again] = [r for r in peer.responses if r["url"] == "ack2"]
    assert again["text"].startswith("INC-1 was already acknowledged at ")


async def test_only_the_paged_person_can_press_their_acknowledge(paging_bot: SlackBot) -> None:
    bot, peer, clock = paging_bot, paging_bot.peer, paging_bot.app.clock
    assert isinstance(clock, ManualClock)
    await bot.command("declare sev1 service:checkout Checkout down", user=ALICE, channel=GENERAL)
    await bot.settle()
    [dm] = dms(peer, BOB)
    value = dm["blocks"][1]["elements"][0]["value"]
    # alice presses bob's button (forwarded, shared, or its payload replayed): refused, only
    # to her, bob's DM stays as it was and nothing changes.
    response = await bot.interact(
        press(ALICE, f"D{BOB[1:]}", "1700000001.000100", value, peer.response_url("mallory"))
    )
    assert response.status_code == 200
    await bot.settle()
    [refused] = [r for r in peer.responses if r["url"] == "mallory"]
    assert refused["text"] == f"This page is for <@{BOB}>: only they can acknowledge it."
    assert refused["response_type"] == "ephemeral" and refused["replace_original"] is False
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.acknowledged_at is None
    kinds = [e.kind for e in await bot.app.store.timeline(1)]
    assert EventKind.ACKNOWLEDGED not in kinds
    # The escalation still runs: 5 minutes later alice is paged.
    clock.advance(minutes=5)
    assert await bot.app.ticker.tick() == 1  # type: ignore[union-attr]
    await bot.settle()
    assert len(dms(peer, ALICE)) == 1
    # bob's own press of the same button acknowledges.
    await bot.interact(
        press(BOB, f"D{BOB[1:]}", "1700000001.000100", value, peer.response_url("bob"))
    )
    await bot.settle()
    [answer] = [r for r in peer.responses if r["url"] == "bob"]
    assert answer["replace_original"] is True
    assert answer["text"] == f"<@{BOB}> acknowledged INC-1: escalation stopped."
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.acknowledged_at == clock.now()


async def test_unknown_service_in_declare_and_page_says_did_you_mean(paging_bot: SlackBot) -> None:
    bot = paging_bot
    await bot.command("declare sev2 service:chekout Broken", user=ALICE)
    await bot.settle()
    assert bot.peer.responses[-1]["text"] == "no such service 'chekout'; did you mean 'checkout'?"
    assert await bot.app.store.list_incidents() == []
