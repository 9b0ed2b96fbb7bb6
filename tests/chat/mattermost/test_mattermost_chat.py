"""MattermostChat through the real mattermostdriver against the local peer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import requests
from mattermost_peer import FakeSleep, MattermostPeer, mattermost_chat, running_peer

from bot.core.model import Incident, Severity, State, Task, TaskState
from bot.core.ports import Channel, ChannelNameTaken, UploadNotAllowed


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as peer:
        yield peer


def incident() -> Incident:
    return Incident(
        7,
        "DB down",
        Severity.SEV2,
        State.INVESTIGATING,
        datetime(2026, 1, 1, tzinfo=UTC),
        "alice",
        "mattermost",
    )


async def test_connect_learns_the_bot_and_its_team(peer: MattermostPeer) -> None:
    chat = mattermost_chat(peer)
    await chat.connect()
    await chat.connect()
    assert (chat.bot_user_id, chat.bot_username) == (peer.bot["id"], "warroom")
    assert chat.team_id == peer.team["id"]
    assert len(peer.calls_to("GET", "/api/v4/users/me")) == 1


async def test_create_channel_public_and_private(peer: MattermostPeer) -> None:
    chat = mattermost_chat(peer)
    public = await chat.create_channel("inc-1-db-down", private=False)
    private = await chat.create_channel("inc-2-leak", private=True)
    assert public == Channel(peer.channel("inc-1-db-down")["id"], "inc-1-db-down")
    assert peer.channels[public.id]["type"] == "O"
    assert peer.channels[private.id]["type"] == "P"
    assert chat.channel_link(public) == "~inc-1-db-down"


async def test_taken_name_raises_channel_name_taken(peer: MattermostPeer) -> None:
    chat = mattermost_chat(peer)
    peer.add_channel("inc-1-db-down")
    with pytest.raises(ChannelNameTaken):
        await chat.create_channel("inc-1-db-down", private=False)


async def test_long_names_fit_mattermosts_64_and_keep_the_retry_suffix(
    peer: MattermostPeer,
) -> None:
    chat = mattermost_chat(peer)
    slug = "-".join(["checkout"] * 9)  # 80 characters with the prefix
    first = await chat.create_channel(f"inc-3-{slug}"[:80], private=False)
    second = await chat.create_channel(f"inc-3-{slug}"[:77] + "-2", private=False)
    assert len(first.name) <= 64 and len(second.name) <= 64
    assert second.name.endswith("-2") and first.name != second.name
    assert len(peer.channels[first.id]["display_name"]) <= 64


async def test_invite_skips_a_user_outside_the_team_and_adds_the_rest(
    peer: MattermostPeer,
) -> None:
    alice = peer.add_user("alice")
    peer.add_user("guest", in_team=False)
    chat = mattermost_chat(peer)
    channel = await chat.create_channel("inc-1-x", private=False)
    await chat.invite(channel, ["guest", "alice"])
    assert peer.members[channel.id] == {peer.bot["id"], alice["id"]}
    (refused,) = [
        c
        for c in peer.calls_to("POST", f"/api/v4/channels/{channel.id}/members")
        if c.body["user_id"] != alice["id"]
    ]
    assert refused.body["user_id"] == peer.user("guest")["id"]


async def test_invite_resolves_usernames_and_skips_unknown_users(peer: MattermostPeer) -> None:
    alice, bob = peer.add_user("alice"), peer.add_user("bob")
    chat = mattermost_chat(peer)
    channel = await chat.create_channel("inc-1-x", private=False)
    await chat.invite(channel, ["alice", "bob", "alice", "nobody"])
    assert {alice["id"], bob["id"]} <= peer.members[channel.id]
    assert len(peer.calls_to("POST", f"/api/v4/channels/{channel.id}/members")) == 2


async def test_topic_post_update_and_pin(peer: MattermostPeer) -> None:
    chat = mattermost_chat(peer)
    channel = await chat.create_channel("inc-1-x", private=False)
    await chat.set_topic(channel, "INC-1 sev2 | investigating")
    message_id = await chat.post(channel.id, "summary v1")
    await chat.pin(channel.id, message_id)
    await chat.update(channel.id, message_id, "summary v2")
    assert peer.channels[channel.id]["header"] == "INC-1 sev2 | investigating"
    assert peer.posts[message_id]["message"] == "summary v2"
    assert peer.posts[message_id]["is_pinned"] is True


async def test_a_text_longer_than_a_post_continues_in_further_posts(
    peer: MattermostPeer,
) -> None:
    chat = mattermost_chat(peer)
    channel = await chat.create_channel("inc-1-x", private=False)
    text = "\n".join("y" * 99 for _ in range(200))  # 19,999 characters
    first = await chat.post(channel.id, text)
    posts = peer.posts_in(channel.id)
    assert len(posts) == 2 and posts[0]["id"] == first
    assert "\n".join(p["message"] for p in posts) == text


async def test_posting_to_a_channel_name_resolves_it_once(peer: MattermostPeer) -> None:
    incidents = peer.add_channel("incidents")
    chat = mattermost_chat(peer)
    await chat.post("incidents", "one")
    await chat.post("incidents", "two")
    assert [p["message"] for p in peer.posts_in(incidents["id"])] == ["one", "two"]
    assert len(peer.calls_to("GET", r"/api/v4/teams/.*/channels/name/incidents")) == 1


async def test_rate_limit_is_retried_after_the_servers_delay(peer: MattermostPeer) -> None:
    sleep = FakeSleep()
    chat = mattermost_chat(peer, sleep=sleep)
    channel = await chat.create_channel("inc-1-x", private=False)
    peer.rate_limit("POST", "/api/v4/posts", retry_after=3, times=2)
    await chat.post(channel.id, "hello")
    assert sleep.delays == [3.0, 3.0]
    assert len(peer.calls_to("POST", "/api/v4/posts")) == 3
    assert [p["message"] for p in peer.posts_in(channel.id)] == ["hello"]
    assert chat.retried == 2


async def test_server_errors_are_retried_with_exponential_backoff(peer: MattermostPeer) -> None:
    sleep = FakeSleep()
    chat = mattermost_chat(peer, sleep=sleep)
    peer.fail("GET", "/api/v4/users/me", 500, times=1)
    peer.fail("GET", "/api/v4/teams/name/eng", 503, times=2)
    await chat.connect()
    assert sleep.delays == [0.5, 0.5, 1.0]
    assert chat.team_id == peer.team["id"]


async def test_gives_up_after_the_last_retry(peer: MattermostPeer) -> None:
    sleep = FakeSleep()
    chat = mattermost_chat(peer, sleep=sleep, retries=2)
    peer.fail("GET", "/api/v4/users/me", 502, times=10)
    with pytest.raises(requests.HTTPError):
        await chat.connect()
    assert sleep.delays == [0.5, 1.0]
    assert len(peer.calls_to("GET", "/api/v4/users/me")) == 3


async def test_client_errors_are_not_retried(peer: MattermostPeer) -> None:
    sleep = FakeSleep()
    chat = mattermost_chat(peer, sleep=sleep)
    with pytest.raises(Exception, match="Unable to find the user"):
        await chat.username("y" * 26)
    assert sleep.delays == []


async def test_upload_sends_the_file_then_a_post_with_it(peer: MattermostPeer) -> None:
    chat = mattermost_chat(peer)
    channel = await chat.create_channel("inc-1-x", private=False)
    await chat.upload(channel.id, "INC-1.md", b"# Postmortem\n", "Postmortem of INC-1")
    ((file_id, (name, content)),) = peer.files.items()
    assert (name, content) == ("INC-1.md", b"# Postmortem\n")
    (post,) = peer.posts_in(channel.id)
    assert post["file_ids"] == [file_id] and post["message"] == "Postmortem of INC-1"


@pytest.mark.parametrize("status", [403, 501])
async def test_refused_upload_raises_upload_not_allowed(peer: MattermostPeer, status: int) -> None:
    peer.upload_refusal = status
    chat = mattermost_chat(peer)
    channel = await chat.create_channel("inc-1-x", private=False)
    with pytest.raises(UploadNotAllowed):
        await chat.upload(channel.id, "INC-1.md", b"x", "Postmortem")
    assert peer.posts_in(channel.id) == []


async def test_checklist_has_signed_buttons_and_updates_in_place(peer: MattermostPeer) -> None:
    chat = mattermost_chat(peer)
    channel = await chat.create_channel("inc-7-db-down", private=False)
    tasks = [Task(7, "default", 1, "Page the DBA"), Task(7, "default", 2, "Fail over")]
    message_id = await chat.post_checklist(channel.id, incident(), tasks)
    attachments = peer.posts[message_id]["props"]["attachments"]
    assert [[a["name"] for a in att["actions"]] for att in attachments] == [
        ["Done", "Skip"],
        ["Done", "Skip"],
    ]
    action = attachments[0]["actions"][0]
    assert action["id"].isalnum()
    assert action["integration"]["url"] == "http://warroom.test/mattermost/actions"
    assert action["integration"]["context"]["sig"]
    tasks[0].state = TaskState.DONE
    await chat.update_checklist(channel.id, message_id, incident(), tasks)
    post = peer.posts[message_id]
    assert post["message"] == "Checklist of INC-7: 1/2 done or skipped."
    assert [a["name"] for a in post["props"]["attachments"][0]["actions"]] == ["Undo"]
