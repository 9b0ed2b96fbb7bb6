"""An alert offer on Slack: Block Kit with a "Declare incident" button that declares."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alert_payloads import alert, notification
from conftest import ANNOUNCE, BOB, SIGNING_SECRET, SlackBot, authorize
from slack_peer import BOT_TOKEN, RecordingSleep, SlackPeer
from slack_sdk.models.blocks import Block
from test_slack_interactions import button

from bot.alerts_web import parse
from bot.app import build_app
from bot.chat.slack.platform import build_slack_platform
from bot.core.clock import ManualClock
from bot.core.model import EventKind
from bot.settings import Settings


async def test_offer_button_declares_the_incident_with_the_alerts(bot: SlackBot) -> None:
    assert bot.app.alerts is not None
    summary = "Error rate above 5% <!channel>"  # alert text comes from outside
    body = notification([alert(severity="warning", service="payments-api", summary=summary)])
    outcome = await bot.app.alerts.handle(parse(json.dumps(body).encode(), "alertmanager"))
    assert outcome.action == "offer" and outcome.incident is None
    [(key, offer)] = [(k, m) for k, m in bot.peer.messages.items() if k[0] == ANNOUNCE]
    assert offer.text.startswith("Alert for an unknown service")
    assert "<!channel>" not in offer.text and "&lt;!channel&gt;" in offer.text
    assert "<!channel>" not in json.dumps(offer.blocks)
    blocks = offer.blocks or []
    assert [Block.parse(b).type for b in blocks] == ["section", "actions"]  # valid Block Kit
    [declare] = blocks[1]["elements"]
    assert (declare["action_id"], declare["value"]) == ("alert_declare", str(outcome.group_id))

    await bot.interact(button(ANNOUNCE, key[1], "alert_declare", outcome.group_id))
    await bot.settle()

    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.declared_by == BOB
    events = [e.text for e in await bot.app.store.timeline(1) if e.kind is EventKind.ALERT]
    assert events == ["Alert firing: HighErrorRate: Error rate above 5% <!channel>"]
    redrawn = bot.peer.messages[key]
    assert "Declared as INC-1." in redrawn.text
    assert [b["type"] for b in redrawn.blocks or []] == ["section"]  # no button any more
    # A second click (or a colleague's) declares nothing more.
    await bot.interact(button(ANNOUNCE, key[1], "alert_declare", outcome.group_id))
    await bot.settle()
    assert len(await bot.app.store.list_incidents()) == 1


CATALOG = f"""\
people:
  - {{name: bob, slack: {BOB}}}
  - {{name: carol}}
teams:
  - {{name: payments, members: [bob], oncall: [bob], channel: C0PAYMENT1}}
  - name: web
    members: [carol]
    channel: C0WEBTEAM1
    rotation:   # Mondays 08:00-08:30 only; the test's clock says Thursday noon
      - {{members: [carol], start: 2025-12-29T08:00:00Z, length: 1d,
          restrict: {{days: [mon], from: "08:00", to: "08:30"}}}}
  - {{name: ops, members: [carol], oncall: [carol], channel: C0OPSTEAM1}}
services:
  - {{name: checkout, owner: payments}}
  - {{name: frontend, owner: web}}
  - {{name: queue, owner: ops}}
"""


@pytest.fixture
async def oncall_bot(sqlite_url: str, peer: SlackPeer, tmp_path: Path) -> AsyncIterator[SlackBot]:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "rules.yaml").write_text("default: {action: offer, to: oncall}\n")
    settings = Settings(
        database_url=sqlite_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=peer.api_url,
        announce_channel=ANNOUNCE,
        catalog=str(tmp_path / "catalog.yaml"),
        alert_rules=str(tmp_path / "rules.yaml"),
        playbooks=str(tmp_path / "no-playbooks"),
        journal=str(tmp_path / "journal.jsonl"),
        _env_file=None,
    )
    app = await build_app(settings, clock=ManualClock())
    sleep = RecordingSleep()
    platform = build_slack_platform(app, authorize=authorize, sleep=sleep)
    app.add_platform(platform)
    bot = SlackBot(app, platform, peer, sleep)
    try:
        yield bot
    finally:
        await bot.close()


async def test_offer_to_oncall_is_a_direct_message_whose_button_declares(
    oncall_bot: SlackBot,
) -> None:
    bot = oncall_bot
    assert bot.app.alerts is not None
    body = notification([alert(severity="warning", service="checkout")])
    outcome = await bot.app.alerts.handle(parse(json.dumps(body).encode(), "alertmanager"))
    assert outcome.action == "offer" and outcome.incident is None
    # As Slack wants it: open the bot's DM with the on-call, then post there.
    assert bot.peer.calls_to("conversations.open") == [{"users": BOB}]
    dm = f"D{BOB[1:]}"
    [(key, offer)] = list(bot.peer.messages.items())
    assert key[0] == dm
    assert offer.text.startswith("Alert for checkout (payments on call: @bob): HighErrorRate")
    assert "Silence: http://alertmanager:9093/#/silences/new?filter=" in offer.text
    blocks = offer.blocks or []
    assert [Block.parse(b).type for b in blocks] == ["section", "actions"]
    [declare] = blocks[1]["elements"]
    assert (declare["action_id"], declare["value"]) == ("alert_declare", str(outcome.group_id))

    press = button(dm, key[1], "alert_declare", outcome.group_id, user=BOB)
    press["channel"] = {"id": dm, "name": "directmessage"}
    await bot.interact(press)
    await bot.settle()
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.declared_by == BOB
    assert incident.service == "checkout"
    events = [e.text for e in await bot.app.store.timeline(1) if e.kind is EventKind.ALERT]
    assert events == ["Alert firing: HighErrorRate: Error rate above 5%"]
    redrawn = bot.peer.messages[key]
    assert "Declared as INC-1." in redrawn.text
    assert [b["type"] for b in redrawn.blocks or []] == ["section"]


async def test_offer_to_oncall_falls_back_to_the_team_channel_and_says_why(
    oncall_bot: SlackBot,
) -> None:
    bot = oncall_bot
    assert bot.app.alerts is not None
    nobody = notification([alert("PageSlow", severity="warning", service="frontend")])
    await bot.app.alerts.handle(parse(json.dumps(nobody).encode(), "alertmanager"))
    no_id = notification([alert("QueueDeep", severity="warning", service="queue")])
    await bot.app.alerts.handle(parse(json.dumps(no_id).encode(), "alertmanager"))
    assert bot.peer.calls_to("conversations.open") == []
    [web] = bot.peer.texts("C0WEBTEAM1")
    assert web.startswith("Alert for frontend (web): PageSlow")
    assert "nobody is on call for web now" in web
    [ops] = bot.peer.texts("C0OPSTEAM1")
    assert ops.startswith("Alert for queue (ops on call: @carol): QueueDeep")
    assert "The direct message to @carol failed: 'carol' is not a Slack user id" in ops
    for channel in ("C0WEBTEAM1", "C0OPSTEAM1"):
        [offer] = [m for m in bot.peer.messages.values() if m.channel == channel]
        assert [b["type"] for b in offer.blocks or []] == ["section", "actions"]
