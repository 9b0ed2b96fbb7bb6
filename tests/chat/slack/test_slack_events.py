"""Timeline capture from channel events, retries deduplicated, and request authenticity."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from conftest import ALICE, BOB, SlackBot, sign

from bot.core.model import EventKind


async def incident_channel(bot: SlackBot) -> str:
    await bot.command("declare DB down")
    await bot.settle()
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.channel_id
    return incident.channel_id


def message(channel: str, ts: str, text: str, user: str = ALICE) -> dict:
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


async def messages_of(bot: SlackBot) -> list:
    return [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.MESSAGE]


async def test_messages_land_on_the_timeline_with_author_and_slack_time(bot: SlackBot) -> None:
    channel = await incident_channel(bot)
    response = await bot.event(
        message(channel, "1700000100.000200", "replica lag 40s"), event_id="Ev01"
    )
    assert response.status_code == 200
    await bot.settle()
    (event,) = await messages_of(bot)
    assert (event.actor, event.text) == (ALICE, "replica lag 40s")
    assert event.source_key == f"slack:{channel}:1700000100.000200"
    assert event.occurred_at == datetime.fromtimestamp(1700000100.0002, UTC)


async def test_retried_event_is_recorded_once(bot: SlackBot) -> None:
    channel = await incident_channel(bot)
    first = message(channel, "1700000100.000300", "restarting primary")
    await bot.event(first, event_id="Ev02")
    await bot.event(first, event_id="Ev02", retry_num=1)
    await bot.event(first, event_id="Ev02", retry_num=2)
    await bot.settle()
    assert len(await messages_of(bot)) == 1


async def test_messages_elsewhere_and_from_bots_are_not_recorded(bot: SlackBot) -> None:
    channel = await incident_channel(bot)
    await bot.event(message("C0ELSEWHERE", "1700000100.1", "lunch?"), event_id="Ev03")
    bot_post = message(channel, "1700000100.2", "beep") | {"bot_id": "B0OTHER001"}
    await bot.event(bot_post, event_id="Ev04")
    joined = message(channel, "1700000100.3", "joined") | {"subtype": "channel_join"}
    await bot.event(joined, event_id="Ev05")
    await bot.settle()
    assert await messages_of(bot) == []


async def test_edit_and_delete_follow_the_message(bot: SlackBot) -> None:
    channel = await incident_channel(bot)
    ts = "1700000200.000100"
    await bot.event(message(channel, ts, "lag 40s"), event_id="Ev10")
    changed = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel,
        "ts": "1700000210.000100",
        "event_ts": "1700000210.000100",
        "message": {
            "type": "message",
            "user": ALICE,
            "text": "lag 4s (typo)",
            "ts": ts,
            "edited": {"user": ALICE, "ts": "1700000210.000000"},
        },
        "previous_message": {"type": "message", "user": ALICE, "text": "lag 40s", "ts": ts},
    }
    await bot.event(changed, event_id="Ev11")
    await bot.settle()
    (event,) = await messages_of(bot)
    assert event.text == "lag 4s (typo)"
    assert event.data["original_text"] == "lag 40s"
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": channel,
        "ts": "1700000220.000100",
        "deleted_ts": ts,
        "event_ts": "1700000220.000100",
        "previous_message": {"type": "message", "user": ALICE, "text": "lag 4s", "ts": ts},
    }
    await bot.event(deleted, event_id="Ev12")
    await bot.settle()
    (event,) = await messages_of(bot)
    assert event.deleted_at is not None


async def test_pushpin_reaction_and_pin_mark_highlights(bot: SlackBot) -> None:
    channel = await incident_channel(bot)
    await bot.event(message(channel, "1700000300.1", "root cause: bad index"), event_id="Ev20")
    await bot.event(message(channel, "1700000300.2", "fix deployed"), event_id="Ev21")
    await bot.event(message(channel, "1700000300.3", "coffee"), event_id="Ev22")
    reaction = {
        "type": "reaction_added",
        "user": BOB,
        "reaction": "pushpin",
        "item_user": ALICE,
        "item": {"type": "message", "channel": channel, "ts": "1700000300.1"},
        "event_ts": "1700000310.000100",
    }
    other = reaction | {"reaction": "thumbsup", "item": reaction["item"] | {"ts": "1700000300.3"}}
    pin = {
        "type": "pin_added",
        "user": ALICE,
        "channel_id": channel,
        "item": {
            "type": "message",
            "channel": channel,
            "message": {
                "type": "message",
                "user": ALICE,
                "text": "fix deployed",
                "ts": "1700000300.2",
                "permalink": "https://example.slack.com/x",
            },
            "created": 1700000320,
            "created_by": ALICE,
        },
        "event_ts": "1700000320.000100",
    }
    await bot.event(reaction, event_id="Ev23")
    await bot.event(other, event_id="Ev24")
    await bot.event(pin, event_id="Ev25")
    await bot.settle()
    marks = {e.text: e.data.get("highlighted_by") for e in await messages_of(bot)}
    assert marks == {"root cause: bad index": BOB, "fix deployed": ALICE, "coffee": None}


async def test_url_verification_is_answered(bot: SlackBot) -> None:
    body = json.dumps(
        {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV", "type": "url_verification"}
    )
    response = await bot.post(body, "application/json")
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}


async def test_bad_signature_is_refused_and_changes_nothing(bot: SlackBot) -> None:
    body = "command=%2Fincident&text=declare+Forged&user_id=U0EVE00001&channel_id=C1&trigger_id=t"
    forged = sign(body, secret="not-the-secret")
    response = await bot.post(body, "application/x-www-form-urlencoded", forged)
    assert response.status_code == 401
    missing = await bot.post(body, "application/x-www-form-urlencoded", {})
    assert missing.status_code == 401
    await bot.settle()
    assert bot.peer.calls == [] and bot.peer.responses == []
    assert await bot.app.store.list_incidents() == []


async def test_stale_timestamp_is_refused_and_changes_nothing(bot: SlackBot) -> None:
    body = "command=%2Fincident&text=declare+Replayed&user_id=U0EVE00001&channel_id=C1&trigger_id=t"
    stale = sign(body, timestamp=int(time.time()) - 6 * 60)
    response = await bot.post(body, "application/x-www-form-urlencoded", stale)
    assert response.status_code == 401
    await bot.settle()
    assert bot.peer.calls == [] and await bot.app.store.list_incidents() == []


async def test_healthz_and_metrics_are_served_beside_slack(bot: SlackBot) -> None:
    await bot.command("help")
    await bot.settle()
    assert (await bot.http.get("/healthz")).json() == {"status": "ok"}
    assert (await bot.http.get("/metrics")).status_code == 200


async def test_a_message_posted_is_taken_before_bolt_and_everything_else_goes_through_it(
    bot: SlackBot,
) -> None:
    """Messages posted skip Bolt's dispatch (the platform takes them: the cost per event is
    most of ingest's); edits, bots' posts and reactions still reach Bolt's listeners."""
    seen: list[str] = []

    async def recorder(body, next):  # type: ignore[no-untyped-def]  # Bolt's middleware
        seen.append((body.get("event") or {}).get("subtype") or body.get("type", "?"))
        return await next()

    channel = await incident_channel(bot)
    bot.platform.bolt.use(recorder)
    ts = "1700000300.000100"
    response = await bot.event(message(channel, ts, "failing over"), event_id="Ev30")
    assert (response.status_code, response.text) == (200, "")
    bot_post = message(channel, "1700000300.2", "beep") | {"bot_id": "B0OTHER001"}
    await bot.event(bot_post, event_id="Ev31")
    changed = {
        "type": "message",
        "subtype": "message_changed",
        "channel": channel,
        "ts": "1700000310.000100",
        "message": {"type": "message", "user": ALICE, "text": "failed over", "ts": ts},
    }
    await bot.event(changed, event_id="Ev32")
    await bot.settle()
    assert seen == ["event_callback", "message_changed"]  # the bot's post, then the edit
    (event,) = await messages_of(bot)
    assert (event.actor, event.text) == (ALICE, "failed over")


async def test_a_signed_event_that_is_not_an_object_is_400_not_a_traceback(
    bot: SlackBot,
) -> None:
    for body in ('["event_callback"]', '{"type": "event_callback", "event": "message"}'):
        response = await bot.post(body, "application/json")
        assert (response.status_code, response.text) == (400, "malformed request body")
    await bot.settle()
    assert await bot.app.store.timeline(1) == []
