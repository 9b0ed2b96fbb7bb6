"""Button presses go through the inbox like commands and events: each is recorded under
Slack's id for it (the trigger_id) before it is acknowledged, handled once however often Slack
delivers it, and handled after a crash that came between the ack and the work."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alert_payloads import alert, notification
from conftest import ALICE, ANNOUNCE, BOB, GENERAL, SlackBot, start_bot
from slack_peer import SlackPeer
from sqlalchemy import select
from test_slack_interactions import button
from test_slack_paging import dms, press, start_paging_bot

from bot.alerts_web import parse
from bot.core.alerts import messages as alert_messages
from bot.core.model import EventKind
from bot.store.tables import InboxRow

INBOX = InboxRow.__table__


@pytest.fixture(params=["sqlite", "postgres"])
async def paging_bot(
    request: pytest.FixtureRequest, peer: SlackPeer, tmp_path: Path
) -> AsyncIterator[SlackBot]:
    bot = await start_paging_bot(request.getfixturevalue(f"{request.param}_url"), peer, tmp_path)
    try:
        yield bot
    finally:
        await bot.close()


async def inbox_rows(bot: SlackBot, key: str) -> list[tuple[str, str]]:
    async with bot.app.store.engine.connect() as conn:
        query = select(INBOX.c.kind, INBOX.c.state).where(INBOX.c.key == key)
        return [tuple(row) for row in (await conn.execute(query)).all()]


async def bobs_page(bot: SlackBot) -> str:
    """Declare for checkout (bob is on call and gets a DM); the DM's Acknowledge value."""
    await bot.command("declare sev1 service:checkout Checkout down", user=ALICE, channel=GENERAL)
    await bot.settle()
    [dm] = dms(bot.peer, BOB)
    return dm["blocks"][1]["elements"][0]["value"]


async def test_an_acknowledge_press_is_recorded_before_its_ack_and_a_retry_is_handled_once(
    paging_bot: SlackBot,
) -> None:
    bot, peer = paging_bot, paging_bot.peer
    value = await bobs_page(bot)
    payload = press(BOB, f"D{BOB[1:]}", "1700000001.000100", value, peer.response_url("ack"))
    key = f"slack:action:{payload['trigger_id']}"

    response = await bot.interact(payload)
    assert response.status_code == 200
    assert len(await inbox_rows(bot, key)) == 1  # on disk when the ack went out
    await bot.settle()
    assert await inbox_rows(bot, key) == [("action", "done")]

    # Slack delivers the same press again (the ack was lost on the way): nothing more.
    assert (await bot.interact(payload)).status_code == 200
    await bot.settle()
    acks = [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.ACKNOWLEDGED]
    assert [e.actor for e in acks] == [BOB]
    answers = [r["text"] for r in peer.responses if r["url"] == "ack"]
    assert answers == [f"<@{BOB}> acknowledged INC-1: escalation stopped."]
    assert await inbox_rows(bot, key) == [("action", "done")]


async def test_an_acknowledged_press_whose_work_a_crash_stopped_is_handled_on_replay(
    paging_bot: SlackBot,
) -> None:
    bot, peer = paging_bot, paging_bot.peer
    value = await bobs_page(bot)
    payload = press(BOB, f"D{BOB[1:]}", "1700000001.000100", value, peer.response_url("ack"))
    key = f"slack:action:{payload['trigger_id']}"
    # What the listener recorded before acknowledging, the process gone before the work ran.
    assert bot.app.inbox is not None
    await bot.app.inbox.accept(key, "slack", "action", payload, spool=False)

    assert await bot.app.inbox.replay_pending() == 1
    await bot.settle()
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.acknowledged_at is not None
    assert await inbox_rows(bot, key) == [("action", "done")]
    assert await bot.app.inbox.replay_pending() == 0  # done: a second replay does nothing
    await bot.settle()
    assert len([r for r in peer.responses if r["url"] == "ack"]) == 1


@pytest.fixture(params=["sqlite", "postgres"])
async def any_bot(request: pytest.FixtureRequest, peer: SlackPeer) -> AsyncIterator[SlackBot]:
    bot = await start_bot(request.getfixturevalue(f"{request.param}_url"), peer)
    try:
        yield bot
    finally:
        await bot.close()


async def test_an_offer_press_is_recorded_before_its_ack_and_a_retry_is_handled_once(
    any_bot: SlackBot,
) -> None:
    bot, peer = any_bot, any_bot.peer
    assert bot.app.alerts is not None
    body = notification([alert(severity="warning", service="payments-api")])
    outcome = await bot.app.alerts.handle(parse(json.dumps(body).encode(), "alertmanager"))
    [key] = [k for k in peer.messages if k[0] == ANNOUNCE]
    payload = button(ANNOUNCE, key[1], "alert_declare", outcome.group_id)
    inbox_key = f"slack:action:{payload['trigger_id']}"

    assert (await bot.interact(payload)).status_code == 200
    assert len(await inbox_rows(bot, inbox_key)) == 1  # on disk when the ack went out
    await bot.settle()
    assert (await bot.interact(payload)).status_code == 200  # Slack sends it again
    await bot.settle()

    assert [i.number for i in await bot.app.store.list_incidents()] == [1]
    told = [c["text"] for c in peer.calls_to("chat.postEphemeral") if c["user"] == BOB]
    assert told == [alert_messages.declared("INC-1")]  # not "already declared" as well
    assert await inbox_rows(bot, inbox_key) == [("action", "done")]
