"""SlackChat against the local Slack peer: the Chat port's calls, and the one retry policy."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime

import pytest
from slack_peer import BOT_TOKEN, RecordingSleep, SlackPeer, make_slack_chat
from slack_sdk.errors import SlackApiError

from bot.chat.slack.chat import SlackChat, make_client
from bot.core import wire
from bot.core.model import Incident, Severity, State, Task, TaskState
from bot.core.ports import Channel, ChannelNameTaken, UploadNotAllowed


def incident() -> Incident:
    return Incident(
        number=7,
        title="Checkout errors",
        severity=Severity.SEV2,
        state=State.INVESTIGATING,
        declared_at=datetime(2026, 1, 1, tzinfo=UTC),
        declared_by="U0ALICE001",
        platform="slack",
    )


async def test_create_channel_returns_slack_id_and_name(peer: SlackPeer) -> None:
    chat = make_slack_chat(peer)
    channel = await chat.create_channel("inc-7-checkout-errors", private=True)
    assert channel.id.startswith("C") and channel.name == "inc-7-checkout-errors"
    (call,) = peer.calls_to("conversations.create")
    assert call["name"] == "inc-7-checkout-errors"
    assert peer.channels[channel.id]["is_private"] is True
    assert peer.calls[0].token == BOT_TOKEN


async def test_name_taken_raises_channel_name_taken(peer: SlackPeer) -> None:
    peer.add_channel("inc-7-checkout-errors")
    with pytest.raises(ChannelNameTaken):
        await make_slack_chat(peer).create_channel("inc-7-checkout-errors", private=False)


async def test_a_channel_the_bot_already_has_is_reused_not_duplicated(peer: SlackPeer) -> None:
    """A create that Slack did but answered 500 is retried, gets name_taken, and finds it."""
    peer.add_channel("general", members=("U0BOT00001",))
    peer.fail("conversations.create", status=500, after=True)
    channel = await make_slack_chat(peer).create_channel("inc-7-checkout-errors", private=False)
    assert [c["name"] for c in peer.channels.values()] == ["general", "inc-7-checkout-errors"]
    assert channel.id == peer.channel_named("inc-7-checkout-errors")["id"]
    assert len(peer.calls_to("users.conversations")) == 2  # paged through the bot's channels


async def test_invite_sends_ids_only_and_ignores_already_in_channel(peer: SlackPeer) -> None:
    chat = make_slack_chat(peer)
    channel = await chat.create_channel("inc-1-x", private=False)
    await chat.invite(channel, ["U0ALICE001", "alice", "U0ALICE001", "U0BOB00002"])
    (call,) = peer.calls_to("conversations.invite")
    assert call["users"] == "U0ALICE001,U0BOB00002"
    peer.fail("conversations.invite", error="already_in_channel")
    await chat.invite(channel, ["U0ALICE001"])  # no exception
    await chat.invite(channel, ["alice"])  # nothing resolvable: no call at all
    assert len(peer.calls_to("conversations.invite", ok_only=False)) == 2
    assert peer.channels[channel.id]["members"][1:] == ["U0ALICE001", "U0BOB00002"]


async def test_topic_every_time_purpose_once(peer: SlackPeer) -> None:
    chat = make_slack_chat(peer)
    channel = await chat.create_channel("inc-1-x", private=False)
    await chat.set_topic(channel, "INC-1 sev2 | investigating")
    await chat.set_topic(channel, "INC-1 sev1 | investigating")
    assert [c["topic"] for c in peer.calls_to("conversations.setTopic")] == [
        "INC-1 sev2 | investigating",
        "INC-1 sev1 | investigating",
    ]
    assert len(peer.calls_to("conversations.setPurpose")) == 1
    assert peer.channels[channel.id]["topic"] == "INC-1 sev1 | investigating"


async def test_post_update_pin_and_mentions(peer: SlackPeer) -> None:
    chat = make_slack_chat(peer)
    ts = await chat.post("C1", "Commander: @U0ALICE001")
    assert peer.messages[("C1", ts)].text == "Commander: <@U0ALICE001>"
    await chat.update("C1", ts, "Commander: @U0BOB00002")
    assert peer.messages[("C1", ts)].text == "Commander: <@U0BOB00002>"
    assert peer.messages[("C1", ts)].edits == 1
    await chat.pin("C1", ts)
    assert peer.calls_to("pins.add") == [{"channel": "C1", "timestamp": ts}]
    await chat.pin("C1", ts)  # pinning again is not an error
    assert peer.pins == {("C1", ts)}


async def test_checklist_is_block_kit_updated_in_place(peer: SlackPeer) -> None:
    chat = make_slack_chat(peer)
    tasks = [Task(7, "default", 1, "Page the owner"), Task(7, "default", 2, "Check the dashboard")]
    ts = await chat.post_checklist("C1", incident(), tasks)
    message = peer.messages[("C1", ts)]
    buttons = [
        e["action_id"]
        for b in message.blocks or []
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert buttons == ["task_done", "task_skip", "task_done", "task_skip"]
    tasks[0].state = TaskState.DONE
    await chat.update_checklist("C1", ts, incident(), tasks)
    assert message.edits == 1
    assert "1/2 done" in (message.blocks or [])[0]["text"]["text"]


async def test_channel_link_is_a_slack_mention() -> None:
    from bot.chat.slack.chat import SlackChat, make_client

    chat = SlackChat(make_client("xoxb-x", "http://127.0.0.1:9/api"))
    assert chat.channel_link(Channel("C123", "inc-1-x")) == "<#C123>"
    assert chat.client.base_url == "http://127.0.0.1:9/api/"  # trailing slash added


async def test_429_waits_retry_after_then_succeeds(peer: SlackPeer) -> None:
    sleep = RecordingSleep()
    chat = make_slack_chat(peer, sleep=sleep)
    peer.fail("chat.postMessage", status=429, retry_after=7, times=2)
    ts = await chat.post("C1", "hello")
    assert ("C1", ts) in peer.messages
    assert sleep.delays == [7.0, 7.0]
    assert [c.outcome for c in peer.calls] == ["429", "429", "ok"]


async def test_5xx_backs_off_exponentially(peer: SlackPeer) -> None:
    sleep = RecordingSleep()
    chat = make_slack_chat(peer, sleep=sleep)
    peer.fail("chat.update", status=503, times=3)
    ts = await chat.post("C1", "v1")
    await chat.update("C1", ts, "v2")
    assert sleep.delays == [0.5, 1.0, 2.0]
    assert peer.messages[("C1", ts)].text == "v2"


async def test_gives_up_after_max_attempts_and_does_not_retry_api_errors(
    peer: SlackPeer,
) -> None:
    sleep = RecordingSleep()
    chat = make_slack_chat(peer, sleep=sleep)
    peer.fail("chat.postMessage", status=500, times=10)
    with pytest.raises(SlackApiError):
        await chat.post("C1", "x")
    assert len(peer.calls_to("chat.postMessage", ok_only=False)) == 5
    peer.fail("chat.update", error="cant_update_message")
    sleep.delays.clear()
    with pytest.raises(SlackApiError):
        await chat.update("C1", "1.2", "x")
    assert sleep.delays == []


async def test_upload_v2_three_steps(peer: SlackPeer) -> None:
    chat = make_slack_chat(peer)
    await chat.upload("C1", "INC-7.md", b"# Postmortem\n", "INC-7 postmortem")
    (ticket,) = peer.calls_to("files.getUploadURLExternal")
    assert ticket["filename"] == "INC-7.md" and int(ticket["length"]) == 13
    (complete,) = peer.calls_to("files.completeUploadExternal")
    file_id = complete["files"][0]["id"]
    assert peer.uploads[file_id] == b"# Postmortem\n"
    assert complete["channel_id"] == "C1"
    assert complete["files"][0]["title"] == "INC-7 postmortem"
    assert peer.shared == [("C1", file_id, "INC-7 postmortem")]


@pytest.mark.parametrize("error", ["not_allowed", "missing_scope"])
async def test_upload_refused_raises_upload_not_allowed(peer: SlackPeer, error: str) -> None:
    peer.fail("files.getUploadURLExternal", error=error)
    with pytest.raises(UploadNotAllowed):
        await make_slack_chat(peer).upload("C1", "a.md", b"x", "a")


async def test_upload_refused_at_completion(peer: SlackPeer) -> None:
    peer.fail("files.completeUploadExternal", error="not_allowed")
    with pytest.raises(UploadNotAllowed):
        await make_slack_chat(peer).upload("C1", "a.md", b"x", "a")


async def test_response_url_retries_429_and_5xx_and_gives_up_on_expired(peer: SlackPeer) -> None:
    sleep = RecordingSleep()
    chat = make_slack_chat(peer, sleep=sleep)
    peer.fail("response_url", status=429, retry_after=2)
    peer.fail("response_url", status=502)
    await chat.respond(peer.response_url("a"), {"text": "hi", "response_type": "ephemeral"})
    assert peer.responses == [{"url": "a", "text": "hi", "response_type": "ephemeral"}]
    assert sleep.delays == [2.0, 1.0]
    peer.fail("response_url", status=404)  # expired_url: logged, not raised, not retried
    await chat.respond(peer.response_url("b"), {"text": "late"})
    assert sleep.delays == [2.0, 1.0] and len(peer.responses) == 1
    await chat.close()


async def test_web_api_calls_and_answers_share_one_connection(peer: SlackPeer) -> None:
    """One aiohttp session for the client and the response_url POSTs: against Slack each new
    connection is a TLS handshake, so N calls in a row must reuse one."""
    chat = make_slack_chat(peer)
    channel = await chat.create_channel("inc-7-checkout-errors", private=False)
    for n in range(5):
        await chat.post(channel.id, f"update {n}")
    await chat.respond(peer.response_url(), {"text": "done"})
    assert len(peer.connections) == 7
    assert len(set(peer.connections)) == 1


async def test_an_unreachable_response_url_is_one_log_line_after_one_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as closed:  # a port nobody listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    sleep = RecordingSleep()
    chat = SlackChat(make_client(BOT_TOKEN, "http://127.0.0.1:9/api/"), sleep=sleep)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.chat.slack.chat"):
            await chat.respond(f"http://127.0.0.1:{port}/respond/x", {"text": "hi"})
    finally:
        await chat.close()
    assert sleep.delays == [0.5]  # one retry, not 7 s of backoff before the next answer
    (record,) = caplog.records
    assert record.exc_info is None and "\n" not in record.getMessage()
    assert f"127.0.0.1:{port} unreachable" in record.getMessage()


async def test_slack_says_when_each_request_is_about_to_go_out(peer: SlackPeer) -> None:
    chat = make_slack_chat(peer)
    channel = (await chat.create_channel("inc-1-wire", private=False)).id
    seen: list[int] = []  # Slack's calls as each request was about to go out
    held = asyncio.get_running_loop().create_future()

    async def sending() -> None:
        seen.append(len(peer.calls))
        if len(seen) == 2:
            await held  # the outbox holds a request here until its transaction committed

    token = wire.on_sending.set(sending)
    try:
        await chat.post(channel, "Rolled back")
        posting = asyncio.ensure_future(chat.post_once(channel, "Mitigated", key="wr-1"))
        for _ in range(50):
            await asyncio.sleep(0)
        # Held: Slack has nothing of it (the peer would have recorded the call by now).
        assert len(peer.calls) == 2 and not posting.done()
        held.set_result(None)
        await posting
    finally:
        wire.on_sending.reset(token)
        await chat.close()
    # Once per request, each before Slack had it (it had the channel's creation only).
    assert seen == [1, 2]
    assert peer.texts(channel) == ["Rolled back", "Mitigated"]
