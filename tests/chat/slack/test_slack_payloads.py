"""The Slack adapter end to end with payloads in the shapes Slack documents (and bolt-python's
own tests use), written here from those shapes: an escaped slash command (should_escape),
message events with markup and rich_text blocks, message_changed without `message.ts`,
message_deleted, reaction_added, pin_added, file_share, url_verification and ssl_check."""

from __future__ import annotations

import urllib.parse

from conftest import ALICE, BOB, GENERAL, TEAM_ID, SlackBot

from bot.core.model import EventKind


async def declared(bot: SlackBot, text: str) -> tuple[str, str]:
    """(channel id, channel name) of the incident a slash command declared."""
    response = await bot.command(text)
    assert response.status_code == 200
    await bot.settle()
    (created,) = bot.peer.calls_to("conversations.create")
    channel = bot.peer.channel_named(created["name"])
    assert channel is not None
    return channel["id"], created["name"]


def rich_text(text: str) -> list[dict]:
    """The blocks Slack adds to a message typed in the client (a rich_text of one section)."""
    return [
        {
            "type": "rich_text",
            "block_id": "Bx1",
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
            ],
        }
    ]


def message(channel: str, ts: str, text: str, user: str = ALICE, **extra: object) -> dict:
    """A `message` event as the Events API delivers it for a public channel."""
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "client_msg_id": f"msg-{ts}",
        "team": TEAM_ID,
        "blocks": rich_text(text),
        "event_ts": ts,
        "channel_type": "channel",
        **extra,
    }


async def messages_of(bot: SlackBot) -> list:
    return [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.MESSAGE]


async def test_an_escaped_title_is_stored_and_named_as_typed(bot: SlackBot) -> None:
    # What Slack sends for `/incident declare sev2 Checkout & payments <EU> down
    # https://status.example.com` with should_escape on.
    _, name = await declared(
        bot, "declare sev2 Checkout &amp; payments &lt;EU&gt; down <https://status.example.com>"
    )
    incident = await bot.app.store.get_incident(1)
    assert incident is not None
    assert incident.title == "Checkout & payments <EU> down https://status.example.com"
    assert name == "inc-1-checkout-payments-eu-down-https-status-example-com"


async def test_what_a_person_types_is_what_is_stored(bot: SlackBot) -> None:
    # Through the peer's escaping, as Slack escapes a typed command.
    assert await bot.typed("declare sev1 R&D <staging> down, @bob on it, see #general")
    await bot.settle()
    incident = await bot.app.store.get_incident(1)
    assert incident is not None
    assert incident.title == f"R&D <staging> down, @{BOB} on it, see #general"
    (created,) = bot.peer.calls_to("conversations.create")
    assert created["name"] == "inc-1-r-d-staging-down-u0bob00002-on-it-see-general"
    await bot.typed("role commander @bob", channel=incident.channel_id or "")
    await bot.settle()
    roles = await bot.app.store.roles(1)
    assert any(r.role == "commander" and r.user == BOB for r in roles)


async def test_a_mention_in_the_title_is_a_user_not_markup(bot: SlackBot) -> None:
    await declared(bot, f"declare Login fails for <@{BOB}|bob> and <#C0SUPPORT1|support>")
    incident = await bot.app.store.get_incident(1)
    assert incident is not None
    assert incident.title == f"Login fails for @{BOB} and #support"


async def test_messages_with_markup_reach_the_timeline_decoded(bot: SlackBot) -> None:
    channel, _ = await declared(bot, "declare DB down")
    raw = f"<@{BOB}|bob> p99 &lt; 200ms &amp; see <https://grafana.example.com/d/1|dash>"
    await bot.event(message(channel, "1700000100.000100", raw), event_id="EvP1")
    upload = message(
        channel,
        "1700000100.000200",
        "graph &gt; 1s",
        subtype="file_share",
        files=[{"id": "F0001", "name": "p99.png", "mimetype": "image/png"}],
        upload=False,
    )
    await bot.event(upload, event_id="EvP2")
    await bot.settle()
    texts = [e.text for e in await messages_of(bot)]
    assert texts == [
        "@bob p99 < 200ms & see dash (https://grafana.example.com/d/1)",
        "graph > 1s",
    ]


async def test_message_changed_without_message_ts_edits_the_message(bot: SlackBot) -> None:
    channel, _ = await declared(bot, "declare DB down")
    ts = "1700000200.000100"
    await bot.event(message(channel, ts, "lag 40s"), event_id="EvP3")
    changed = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "message": {
            "type": "message",
            "user": ALICE,
            "text": "lag 4s &amp; falling",
            "edited": {"user": ALICE, "ts": "1700000210.000000"},
            "client_msg_id": f"msg-{ts}",
        },
        "channel": channel,
        "previous_message": {"type": "message", "user": ALICE, "text": "lag 40s", "ts": ts},
        "event_ts": "1700000210.000200",
        "ts": "1700000210.000200",
        "channel_type": "channel",
    }
    await bot.event(changed, event_id="EvP4")
    await bot.settle()
    (event,) = await messages_of(bot)
    assert event.text == "lag 4s & falling"
    assert event.data["original_text"] == "lag 40s"


async def test_deletion_reaction_and_pin_in_documented_shapes(bot: SlackBot) -> None:
    channel, _ = await declared(bot, "declare DB down")
    await bot.event(message(channel, "1700000300.000100", "root cause"), event_id="EvP5")
    await bot.event(message(channel, "1700000300.000200", "oops"), event_id="EvP6")
    await bot.event(message(channel, "1700000300.000300", "fixed"), event_id="EvP7")
    reaction = {
        "type": "reaction_added",
        "user": BOB,
        "reaction": "pushpin",
        "item_user": ALICE,
        "item": {"type": "message", "channel": channel, "ts": "1700000300.000100"},
        "event_ts": "1700000310.000100",
    }
    pin = {
        "type": "pin_added",
        "user": ALICE,
        "channel_id": channel,
        "item": {
            "type": "message",
            "created": 1700000320,
            "created_by": ALICE,
            "channel": channel,
            "message": {
                "type": "message",
                "user": ALICE,
                "text": "fixed",
                "ts": "1700000300.000300",
                "pinned_to": [channel],
                "permalink": "https://example.slack.com/archives/C/p1700000300000300",
            },
        },
        "event_ts": "1700000320.000100",
    }
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": channel,
        "ts": "1700000330.000100",
        "deleted_ts": "1700000300.000200",
        "event_ts": "1700000330.000100",
        "previous_message": {
            "type": "message",
            "user": ALICE,
            "text": "oops",
            "ts": "1700000300.000200",
        },
        "channel_type": "channel",
    }
    for n, event in enumerate((reaction, pin, deleted)):
        await bot.event(event, event_id=f"EvQ{n}")
    await bot.settle()
    shown = {
        e.text: (e.data.get("highlighted_by"), e.deleted_at is not None)
        for e in await messages_of(bot)
    }
    assert shown == {"root cause": (BOB, False), "oops": (None, True), "fixed": (ALICE, False)}


async def test_ssl_check_is_answered_and_does_nothing(bot: SlackBot) -> None:
    # Slack's periodic certificate check: a signed form post with ssl_check=1.
    body = urllib.parse.urlencode({"ssl_check": "1", "token": "XXYYZZ"})
    response = await bot.post(body, "application/x-www-form-urlencoded")
    assert response.status_code == 200
    await bot.settle()
    assert bot.peer.calls == [] and bot.peer.responses == []


async def test_a_block_action_from_an_old_copy_of_the_checklist(bot: SlackBot) -> None:
    channel, _ = await declared(bot, "declare DB down")
    await bot.command("task add Page the DBA", channel=channel)
    await bot.settle()
    incident = await bot.app.store.get_incident(1)
    assert incident is not None
    chat = bot.platform.chat
    ts = await chat.post_checklist(channel, incident, await bot.app.store.tasks(1))
    payload = {
        "type": "block_actions",
        "user": {"id": BOB, "username": "bob", "name": "bob", "team_id": TEAM_ID},
        "api_app_id": "A0APP00001",
        "token": "XXYYZZ",
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "team": {"id": TEAM_ID, "domain": "example"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "inc-1-db-down"},
        "message": {"type": "message", "ts": ts, "text": "Tasks", "blocks": []},
        "state": {"values": {}},
        "response_url": bot.peer.response_url("click1"),
        "actions": [
            {
                "type": "button",
                "block_id": "task-1-actions",
                "action_id": "task_done",
                "text": {"type": "plain_text", "text": "Done", "emoji": True},
                "value": "1",
                "style": "primary",
                "action_ts": "1700000400.000100",
            }
        ],
    }
    response = await bot.interact(payload)
    assert response.status_code == 200
    await bot.settle()
    (done,) = await bot.app.store.tasks(1)
    assert done.state.value == "done"
    assert bot.peer.messages[(channel, ts)].edits == 1  # the clicked copy was redrawn
    assert GENERAL != channel
