"""An alert offer on Slack: Block Kit with a "Declare incident" button that declares."""

from __future__ import annotations

import json

from alert_payloads import alert, notification
from conftest import ANNOUNCE, BOB, SlackBot
from slack_sdk.models.blocks import Block
from test_slack_interactions import button

from bot.alerts_web import parse
from bot.core.model import EventKind


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
