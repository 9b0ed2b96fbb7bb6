"""One contract for every Chat adapter: each platform brings a Harness (the chat plus probes
that read what the platform now holds) and the same tests run against all of them.

To add a platform, write an async context manager yielding a Harness and add it to HARNESSES.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from mattermost_peer import MattermostPeer, mattermost_chat, running_peer
from slack_peer import BOT_USER_ID, SlackPeer, make_slack_chat

from bot.chat.console.chat import ConsoleChat
from bot.core.model import Incident, Severity, State, Task, TaskState
from bot.core.ports import Channel, ChannelNameTaken, Chat, UploadNotAllowed

_TASK_ROW = re.compile(r"^\d+\. \[.\] ")


@dataclass
class Harness:
    chat: Chat
    take_name: Callable[[str], None]  # a channel of that name exists already (not ours)
    members: Callable[[Channel], set[str]]  # usernames
    topic: Callable[[Channel], str]
    is_private: Callable[[Channel], bool]
    text: Callable[[str], str]  # message id -> current text
    task_rows: Callable[[str], list[str]]  # checklist message id -> "N. [x] title" rows
    pinned: Callable[[str], bool]
    uploads: Callable[[Channel], list[tuple[str, bytes]]]
    refuse_uploads: Callable[[], bool]  # False: this platform cannot be made to refuse
    # A person -> how the core names them on this platform (Slack: a user id).
    user: Callable[[str], str] = lambda name: name


@asynccontextmanager
async def console_harness() -> AsyncIterator[Harness]:
    chat = ConsoleChat(write=lambda line: None)

    def rows(message_id: str) -> list[str]:
        return [line for line in chat.messages[message_id][1].splitlines() if _TASK_ROW.match(line)]

    yield Harness(
        chat=chat,
        take_name=chat.know,
        members=lambda channel: set(chat.channels[channel.id].members),
        topic=lambda channel: chat.channels[channel.id].topic,
        is_private=lambda channel: chat.channels[channel.id].private,
        text=lambda message_id: chat.messages[message_id][1],
        task_rows=rows,
        pinned=lambda message_id: message_id in chat.pins,
        uploads=lambda channel: [(f, c) for name, f, c in chat.uploads if name == channel.id],
        refuse_uploads=lambda: False,
    )


@asynccontextmanager
async def mattermost_harness() -> AsyncIterator[Harness]:
    async with running_peer() as peer:
        for user in ("alice", "bob"):
            peer.add_user(user)
        chat = mattermost_chat(peer)

        def usernames(channel: Channel) -> set[str]:
            return {peer.users[user_id]["username"] for user_id in peer.members[channel.id]} - {
                peer.bot["username"]
            }

        def rows(message_id: str) -> list[str]:
            return [a["text"] for a in peer.posts[message_id]["props"]["attachments"]]

        def uploads(channel: Channel) -> list[tuple[str, bytes]]:
            posted = [f for p in peer.posts_in(channel.id) for f in p.get("file_ids", [])]
            return [peer.files[file_id] for file_id in posted]

        def refuse(peer: MattermostPeer = peer) -> bool:
            peer.upload_refusal = 403
            return True

        yield Harness(
            chat=chat,
            take_name=lambda name: peer.add_channel(name) and None,
            members=usernames,
            topic=lambda channel: peer.channels[channel.id]["header"],
            is_private=lambda channel: peer.channels[channel.id]["type"] == "P",
            text=lambda message_id: peer.posts[message_id]["message"],
            task_rows=rows,
            pinned=lambda message_id: peer.posts[message_id]["is_pinned"],
            uploads=uploads,
            refuse_uploads=refuse,
        )


SLACK_USERS = {"alice": "U0ALICE001", "bob": "U0BOB00001"}
_SLACK_ROW = re.compile(r"^~?(\[.\]) (\d+)\. (.*?)~?$")


@asynccontextmanager
async def slack_harness() -> AsyncIterator[Harness]:
    async with SlackPeer() as peer:
        chat = make_slack_chat(peer)

        def message(message_id: str):  # type: ignore[no-untyped-def]
            return next(m for (_, ts), m in peer.messages.items() if ts == message_id)

        def rows(message_id: str) -> list[str]:
            # Block Kit sections read "[x] 1. title" (struck through when finished).
            found = []
            for block in message(message_id).blocks or []:
                if block.get("type") == "section" and block.get("block_id", "").startswith("task-"):
                    mark, number, title = _SLACK_ROW.match(block["text"]["text"]).groups()  # type: ignore[union-attr]
                    found.append(f"{number}. {mark} {title}")
            return found

        def uploads(channel: Channel) -> list[tuple[str, bytes]]:
            return [
                (peer.filenames[file_id], peer.uploads[file_id])
                for where, file_id, _ in peer.shared
                if where == channel.id
            ]

        def refuse() -> bool:
            peer.fail("files.getUploadURLExternal", error="not_allowed")
            return True

        yield Harness(
            chat=chat,
            take_name=lambda name: peer.add_channel(name) and None,
            members=lambda channel: set(peer.channels[channel.id]["members"]) - {BOT_USER_ID},
            topic=lambda channel: peer.channels[channel.id]["topic"],
            is_private=lambda channel: peer.channels[channel.id]["is_private"],
            text=lambda message_id: message(message_id).text,
            task_rows=rows,
            pinned=lambda message_id: any(ts == message_id for _, ts in peer.pins),
            uploads=uploads,
            refuse_uploads=refuse,
            user=SLACK_USERS.__getitem__,
        )


HARNESSES: dict[str, Callable[[], AbstractAsyncContextManager[Harness]]] = {
    "console": console_harness,
    "mattermost": mattermost_harness,
    "slack": slack_harness,
}


@pytest.fixture(params=list(HARNESSES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with HARNESSES[request.param]() as harness:
        yield harness


def incident() -> Incident:
    return Incident(
        4,
        "Queue backlog",
        Severity.SEV3,
        State.INVESTIGATING,
        datetime(2026, 1, 1, tzinfo=UTC),
        "alice",
        "test",
    )


async def test_create_channel(harness: Harness) -> None:
    public = await harness.chat.create_channel("inc-4-queue-backlog", private=False)
    private = await harness.chat.create_channel("inc-5-secret", private=True)
    assert public.name == "inc-4-queue-backlog"
    assert not harness.is_private(public) and harness.is_private(private)
    link = harness.chat.channel_link(public)
    assert public.name in link or public.id in link  # Slack links by id: <#C123>


async def test_a_taken_name_raises_channel_name_taken(harness: Harness) -> None:
    harness.take_name("inc-4-queue-backlog")
    with pytest.raises(ChannelNameTaken):
        await harness.chat.create_channel("inc-4-queue-backlog", private=False)
    await harness.chat.create_channel("inc-4-queue-backlog-2", private=False)


async def test_invite_adds_each_user_once(harness: Harness) -> None:
    channel = await harness.chat.create_channel("inc-4-queue-backlog", private=False)
    alice, bob = harness.user("alice"), harness.user("bob")
    await harness.chat.invite(channel, [alice])
    await harness.chat.invite(channel, [alice, bob])
    assert harness.members(channel) == {alice, bob}


async def test_topic(harness: Harness) -> None:
    channel = await harness.chat.create_channel("inc-4-queue-backlog", private=False)
    await harness.chat.set_topic(channel, "INC-4 sev3 (minor) | investigating")
    await harness.chat.set_topic(channel, "INC-4 sev2 (major) | identified")
    assert harness.topic(channel) == "INC-4 sev2 (major) | identified"


async def test_post_update_and_pin(harness: Harness) -> None:
    channel = await harness.chat.create_channel("inc-4-queue-backlog", private=False)
    first = await harness.chat.post(channel.id, "summary v1")
    other = await harness.chat.post(channel.id, "something else")
    await harness.chat.pin(channel.id, first)
    await harness.chat.update(channel.id, first, "summary v2")
    assert first != other
    assert harness.text(first) == "summary v2" and harness.text(other) == "something else"
    assert harness.pinned(first) and not harness.pinned(other)


async def test_checklist_is_posted_and_updated_in_place(harness: Harness) -> None:
    channel = await harness.chat.create_channel("inc-4-queue-backlog", private=False)
    tasks = [Task(4, "default", 1, "Scale consumers"), Task(4, "default", 2, "Drain DLQ")]
    message_id = await harness.chat.post_checklist(channel.id, incident(), tasks)
    assert harness.task_rows(message_id) == ["1. [ ] Scale consumers", "2. [ ] Drain DLQ"]
    tasks[0].state, tasks[1].state = TaskState.DONE, TaskState.SKIPPED
    await harness.chat.update_checklist(channel.id, message_id, incident(), tasks)
    assert harness.task_rows(message_id) == ["1. [x] Scale consumers", "2. [-] Drain DLQ"]


async def test_upload(harness: Harness) -> None:
    channel = await harness.chat.create_channel("inc-4-queue-backlog", private=False)
    await harness.chat.upload(channel.id, "INC-4.md", b"# INC-4\n", "Postmortem of INC-4")
    assert harness.uploads(channel) == [("INC-4.md", b"# INC-4\n")]


async def test_a_refused_upload_raises_upload_not_allowed(harness: Harness) -> None:
    if not harness.refuse_uploads():
        pytest.skip("this platform cannot be made to refuse an upload")
    channel = await harness.chat.create_channel("inc-4-queue-backlog", private=False)
    with pytest.raises(UploadNotAllowed):
        await harness.chat.upload(channel.id, "INC-4.md", b"# INC-4\n", "Postmortem of INC-4")
    assert harness.uploads(channel) == []
