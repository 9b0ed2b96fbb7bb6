"""/incident through the real app: signed slash commands in, Web API calls out to the peer."""

from __future__ import annotations

from conftest import ALICE, ANNOUNCE, BOB, GENERAL, SlackBot, acked

from bot.core import messages
from bot.core.model import EventKind, Severity


def reply_to(bot: SlackBot, n: int) -> dict:
    """What was sent to the response_url of the n-th slash command."""
    (response,) = [r for r in bot.peer.responses if r["url"] == f"cmd{n}"]
    return response


async def declare(bot: SlackBot, text: str = "sev2 service:checkout Checkout errors") -> str:
    """Declare and return the incident channel's id."""
    response = await bot.command(f"declare {text}")
    assert response.status_code == 200
    await bot.settle()
    channel = bot.peer.calls_to("conversations.create", ok_only=False)[-1]["name"]
    found = bot.peer.channel_named(channel)
    assert found is not None
    return found["id"]


async def test_help_is_answered_in_the_ack_only_to_the_user(bot: SlackBot) -> None:
    response = await bot.command("help")
    assert response.status_code == 200
    # Decided without I/O, so the acknowledgement itself carries the answer.
    assert response.json() == {"text": messages.HELP, "response_type": "ephemeral"}
    await bot.settle()
    assert bot.peer.calls == [] and bot.peer.responses == []


async def test_usage_error_is_answered_in_the_ack(bot: SlackBot) -> None:
    response = await bot.command(f"role commander <@{BOB}|bob> extra")
    assert response.json()["response_type"] == "ephemeral"
    assert response.json()["text"] == messages.usage("role")
    response = await bot.command("sev sev9")
    assert "Unknown severity 'sev9'" in response.json()["text"]


async def test_a_command_with_work_is_acked_empty_and_answered_after(bot: SlackBot) -> None:
    response = await bot.command("status all good")
    assert response.status_code == 200 and response.text == ""
    await bot.settle()
    reply = reply_to(bot, 1)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == messages.not_in_incident_channel("status")


async def test_a_read_is_answered_in_its_ack(bot: SlackBot) -> None:
    reply = acked(await bot.command("list"))
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("No open incidents")
    await bot.settle()
    assert bot.peer.responses == []  # nothing through the response_url


async def test_in_channel_command_outside_incident_says_where_to_run_it(bot: SlackBot) -> None:
    await bot.command("status all good")
    await bot.settle()
    assert reply_to(bot, 1)["text"] == messages.not_in_incident_channel("status")
    assert bot.peer.calls_to("chat.postMessage") == []


async def test_declare_creates_channel_invites_pins_and_announces(bot: SlackBot) -> None:
    channel = await declare(bot)
    peer = bot.peer
    assert peer.channels[channel]["name"] == "inc-1-checkout-errors"
    assert peer.channels[channel]["is_private"] is False
    assert [(c["channel"], c["users"]) for c in peer.calls_to("conversations.invite")] == [
        (channel, ALICE)
    ]
    (topic,) = peer.calls_to("conversations.setTopic")
    assert topic["topic"].startswith("INC-1 sev2 (major) | investigating")
    assert len(peer.calls_to("conversations.setPurpose")) == 1
    summary = next(m for m in peer.messages.values() if m.channel == channel)
    assert "INC-1: Checkout errors" in summary.text
    assert f"<@{ALICE}>" in summary.text
    assert peer.calls_to("pins.add") == [{"channel": channel, "timestamp": summary.ts}]
    (announcement,) = [m for m in peer.messages.values() if m.channel == ANNOUNCE]
    assert f"<#{channel}>" in announcement.text
    reply = reply_to(bot, 1)
    assert reply["response_type"] == "in_channel"
    assert f"INC-1 declared (sev2): Checkout errors. Join <#{channel}>." == reply["text"]
    incident = await bot.app.store.get_incident(1)
    assert incident is not None
    assert (incident.channel_id, incident.summary_message_id) == (channel, summary.ts)
    assert incident.platform == "slack" and incident.declared_by == ALICE


async def test_the_ack_does_not_wait_for_the_work(bot: SlackBot) -> None:
    release = bot.peer.hold("conversations.create")
    response = await bot.command("declare sev1 Slow Slack")
    # Acknowledged while the channel is still being created: the work runs after the ack.
    assert response.status_code == 200 and response.text == ""
    assert bot.platform.listeners.worker.pending == 1
    release.set()
    await bot.settle()
    assert bot.peer.channel_named("inc-1-slow-slack") is not None


async def test_private_declare_is_not_announced(bot: SlackBot) -> None:
    channel = await declare(bot, "--private Payroll leak")
    assert bot.peer.channels[channel]["is_private"] is True
    assert not [m for m in bot.peer.messages.values() if m.channel == ANNOUNCE]
    assert reply_to(bot, 1)["response_type"] == "ephemeral"


async def test_name_taken_retries_with_a_suffix(bot: SlackBot) -> None:
    bot.peer.add_channel("inc-1-checkout-errors")
    channel = await declare(bot)
    assert bot.peer.channels[channel]["name"] == "inc-1-checkout-errors-2"
    assert [c["name"] for c in bot.peer.calls_to("conversations.create", ok_only=False)] == [
        "inc-1-checkout-errors",
        "inc-1-checkout-errors-2",
    ]


async def test_rate_limited_create_waits_retry_after(bot: SlackBot) -> None:
    bot.peer.fail("conversations.create", status=429, retry_after=3)
    await declare(bot)
    assert bot.sleep.delays == [3.0]
    assert len(bot.peer.channels) == 1


async def test_a_lost_create_response_does_not_make_a_second_channel(bot: SlackBot) -> None:
    bot.peer.fail("conversations.create", status=503, after=True)
    channel = await declare(bot)
    assert list(bot.peer.channels) == [channel]
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.channel_name == "inc-1-checkout-errors"


async def test_same_trigger_twice_declares_once(any_db_bot: SlackBot) -> None:
    bot = any_db_bot
    await bot.command("declare DB down", trigger_id="1.2.same")
    await bot.command("declare DB down", trigger_id="1.2.same")
    await bot.settle()
    assert len(bot.peer.calls_to("conversations.create")) == 1
    assert len(await bot.app.store.list_incidents()) == 1


async def test_status_severity_and_role_update_the_pinned_summary(bot: SlackBot) -> None:
    channel = await declare(bot)
    peer = bot.peer
    summary = next(m for m in peer.messages.values() if m.channel == channel)
    await bot.command("status Rolling back the deploy", channel=channel)
    await bot.command("sev sev1", channel=channel)
    await bot.command(f"role commander <@{BOB}|bob>", user=ALICE, channel=channel)
    await bot.settle()
    texts = [m.text for m in peer.messages.values() if m.channel == channel]
    assert any(t.startswith("Status update for INC-1") and "Rolling back" in t for t in texts)
    assert any(
        "Rolling back the deploy" in m.text for m in peer.messages.values() if m.channel == ANNOUNCE
    )
    # One pinned summary, edited in place: no second summary was posted.
    assert summary.edits >= 2
    assert "Severity: sev1 (critical)" in summary.text
    assert f"Commander: <@{BOB}>" in summary.text
    invites = [(c["channel"], c["users"]) for c in peer.calls_to("conversations.invite")]
    assert (channel, BOB) in invites
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.severity is Severity.SEV1
    kinds = [e.kind for e in await bot.app.store.timeline(1)]
    assert EventKind.STATUS_UPDATE in kinds and EventKind.SEVERITY_CHANGED in kinds


async def test_list_and_show_are_ephemeral(bot: SlackBot) -> None:
    await declare(bot)
    listing = acked(await bot.command("list"))
    detail = acked(await bot.command("show INC-1"))
    assert listing["response_type"] == detail["response_type"] == "ephemeral"
    assert "INC-1" in listing["text"] and "#inc-1-checkout-errors" in listing["text"]
    assert detail["text"].startswith("INC-1: Checkout errors")


async def test_commands_from_another_channel_keep_working(bot: SlackBot) -> None:
    await declare(bot)
    assert "INC-1" in acked(await bot.command("list --all", channel=GENERAL))["text"]
