"""The declare form (views.open, view_submission) and checklist buttons (block_actions)."""

from __future__ import annotations

import itertools
import json

from conftest import ALICE, BOB, GENERAL, TEAM_ID, SlackBot

from bot.chat.slack import translate
from bot.core import messages
from bot.core.model import Change, EventKind, Severity, TaskState


def submission(view_id: str, values: dict, channel: str = GENERAL) -> dict:
    """A view_submission payload shaped as Slack's docs show it."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "example"},
        "user": {"id": ALICE, "username": "alice", "name": "alice", "team_id": TEAM_ID},
        "api_app_id": "A0APP00001",
        "token": "XXYYZZ",
        "trigger_id": "12466734323.1395872398.ac5b7d8b3ab2f4b8a12ce81b6f6c6a1f",
        "view": {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": "modal",
            "callback_id": translate.DECLARE_CALLBACK,
            "private_metadata": json.dumps({"channel_id": channel}),
            "hash": "156772938.1827394",
            "state": {"values": values},
            "title": {"type": "plain_text", "text": "Declare an incident"},
            "blocks": [],
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }


def form_values(title: str, *, severity: str = "sev2", private: bool = False) -> dict:
    return {
        "title": {"title": {"type": "plain_text_input", "value": title}},
        "severity": {
            "severity": {
                "type": "static_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": severity},
                    "value": severity,
                },
            }
        },
        "service": {"service": {"type": "plain_text_input", "value": "payments api"}},
        "private": {
            "private": {
                "type": "checkboxes",
                "selected_options": [
                    {"text": {"type": "plain_text", "text": "Private channel"}, "value": "private"}
                ]
                if private
                else [],
            }
        },
        "description": {
            "description": {"type": "plain_text_input", "value": "Card payments fail with 502"}
        },
    }


_CLICKS = itertools.count(1)


def button(channel: str, ts: str, action_id: str, position: int, user: str = BOB) -> dict:
    """A block_actions payload for a click on a checklist button. Every click has a trigger_id
    of its own, as on Slack (warroom records each click under it)."""
    click = next(_CLICKS)
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "bob", "name": "bob", "team_id": TEAM_ID},
        "api_app_id": "A0APP00001",
        "token": "XXYYZZ",
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"12321423423.333649436676.d8c1bb837935619ccad0f624c448{click:04d}",
        "team": {"id": TEAM_ID, "domain": "example"},
        "channel": {"id": channel, "name": "inc-1-db-down"},
        "message": {"type": "message", "ts": ts, "text": "checklist", "bot_id": "B0BOT00001"},
        "response_url": "",
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"task-{position}-actions",
                "text": {"type": "plain_text", "text": "Done"},
                "value": str(position),
                "type": "button",
                "action_ts": f"1548426417.{840180 + click}",
            }
        ],
    }


async def test_declare_without_text_opens_the_form_with_the_trigger(bot: SlackBot) -> None:
    await bot.command("declare", trigger_id="555.666.trigger")
    await bot.settle()
    (call,) = bot.peer.calls_to("views.open")
    assert call["trigger_id"] == "555.666.trigger"
    assert call["view"]["callback_id"] == translate.DECLARE_CALLBACK
    assert json.loads(call["view"]["private_metadata"]) == {"channel_id": GENERAL}
    assert await bot.app.store.list_incidents() == []


async def test_an_expired_trigger_says_how_to_declare_without_the_form(bot: SlackBot) -> None:
    bot.peer.fail("views.open", error="expired_trigger_id")
    await bot.command("declare")
    await bot.settle()
    (reply,) = bot.peer.responses
    assert reply["response_type"] == "ephemeral" and reply["text"] == messages.FORM_EXPIRED


async def test_form_submission_declares_with_description(bot: SlackBot) -> None:
    response = await bot.interact(submission("V0FORM0001", form_values("Payments down")))
    assert response.status_code == 200
    await bot.settle()
    incident = await bot.app.store.get_incident(1)
    assert incident is not None
    assert incident.title == "Payments down" and incident.severity is Severity.SEV2
    assert incident.service == "payments-api"
    assert incident.description == "Card payments fail with 502"
    summary = bot.peer.messages[(incident.channel_id, incident.summary_message_id)]
    assert "Description: Card payments fail with 502" in summary.text
    (told,) = bot.peer.calls_to("chat.postEphemeral")
    assert told["channel"] == GENERAL and told["user"] == ALICE
    assert f"Join <#{incident.channel_id}>" in told["text"]


async def test_private_form_makes_a_private_channel(bot: SlackBot) -> None:
    await bot.interact(submission("V0FORM0002", form_values("Leak", private=True)))
    await bot.settle()
    (created,) = bot.peer.calls_to("conversations.create")
    assert created["is_private"] in (True, "true", "1")


async def test_double_submitted_form_makes_one_incident_and_one_channel(
    any_db_bot: SlackBot,
) -> None:
    bot = any_db_bot
    payload = submission("V0FORM0003", form_values("Double click"))
    first = await bot.interact(payload)
    second = await bot.interact(payload)
    assert first.status_code == second.status_code == 200
    await bot.settle()
    assert len(await bot.app.store.list_incidents()) == 1
    assert len(bot.peer.calls_to("conversations.create")) == 1


async def test_blank_title_is_refused_in_the_form(bot: SlackBot) -> None:
    response = await bot.interact(submission("V0FORM0004", form_values("   ")))
    assert response.status_code == 200
    assert response.json() == {
        "response_action": "errors",
        "errors": {"title": messages.FORM_TITLE_MISSING},
    }
    await bot.settle()
    assert await bot.app.store.list_incidents() == []


async def test_form_reply_falls_back_to_a_dm_when_the_bot_is_not_in_the_channel(
    bot: SlackBot,
) -> None:
    bot.peer.fail("chat.postEphemeral", error="not_in_channel")
    await bot.interact(submission("V0FORM0005", form_values("DM me")))
    await bot.settle()
    dms = [m for m in bot.peer.messages.values() if m.channel == ALICE]
    assert len(dms) == 1 and "INC-1 declared" in dms[0].text


async def test_checklist_buttons_change_tasks_and_update_the_message(bot: SlackBot) -> None:
    await bot.command("declare DB down")
    await bot.settle()
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.channel_id
    channel = incident.channel_id
    await bot.command("task add Page the DBA", channel=channel)
    await bot.command("task add Fail over", channel=channel)
    await bot.settle()
    tasks = await bot.app.store.tasks(1)
    ts = await bot.platform.chat.post_checklist(channel, incident, tasks)

    await bot.interact(button(channel, ts, "task_done", 1))
    await bot.interact(button(channel, ts, "task_skip", 2))
    await bot.settle()

    states = [t.state for t in await bot.app.store.tasks(1)]
    assert states == [TaskState.DONE, TaskState.SKIPPED]
    message = bot.peer.messages[(channel, ts)]
    assert message.edits == 2
    undo = [b["accessory"]["action_id"] for b in message.blocks or [] if "accessory" in b]
    assert undo == ["task_undo", "task_undo"]
    changes = [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.TASK_CHANGED]
    assert [e.actor for e in changes[-2:]] == [BOB, BOB]
    assert changes[-1].data["state"] == "skipped"
    # No response_url in these payloads: the public reply goes to the channel as a post.
    said = [m.text for m in bot.peer.messages.values() if m.channel == channel]
    assert f"Task 1 is now done: Page the DBA (@<@{BOB}>)" not in said
    assert any(t.startswith("Task 1 is now done: Page the DBA") for t in said)


async def test_clicking_done_twice_tells_only_the_clicker(bot: SlackBot) -> None:
    await bot.command("declare DB down")
    await bot.settle()
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.channel_id
    await bot.command("task add Page the DBA", channel=incident.channel_id)
    await bot.settle()
    ts = await bot.platform.chat.post_checklist(
        incident.channel_id, incident, await bot.app.store.tasks(1)
    )
    for _ in range(2):  # two clicks: two payloads, each with its own trigger_id
        payload = button(incident.channel_id, ts, "task_done", 1)
        payload["response_url"] = bot.peer.response_url("click")
        await bot.interact(payload)
    await bot.settle()
    first, second = [r for r in bot.peer.responses if r["url"] == "click"]
    assert first["response_type"] == "in_channel" and first["replace_original"] is False
    assert second["response_type"] == "ephemeral"
    assert "already done" in second["text"]


async def test_typed_task_commands_redraw_the_incidents_checklist(bot: SlackBot) -> None:
    await bot.command("declare DB down")
    await bot.settle()
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.channel_id
    channel = incident.channel_id
    await bot.command("task add Page the DBA", channel=channel)
    await bot.settle()
    # What a playbook does when it adds a checklist: post it, remember the message.
    incident.checklist_message_id = await bot.platform.chat.post_checklist(
        channel, incident, await bot.app.store.tasks(1)
    )
    await bot.app.store.commit(Change(incident=incident))
    await bot.command("task done 1", channel=channel)
    await bot.command("task add Fail over", channel=channel)
    await bot.settle()
    message = bot.peer.messages[(channel, incident.checklist_message_id)]
    assert message.edits == 2
    assert "1/2 done" in (message.blocks or [])[0]["text"]["text"]
