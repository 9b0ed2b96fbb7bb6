"""Outbound Mattermost text: broadcasts and group mentions never ping; users' mentions do."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mattermost_bot import Bot, running_bot
from mattermost_peer import MattermostPeer, running_peer

from bot.chat.mattermost.text import ZERO_WIDTH_SPACE, mentioned, neutralise

# How the server finds a mention (app/notification.go: words after a non-word character,
# trailing . - _ : trimmed), lower-cased.
SERVER_MENTION = re.compile(r"(?<![A-Za-z0-9_])@([A-Za-z0-9_][A-Za-z0-9._\-]*)")
USERS = {"alice", "bob", "carol.d"}
TOKENS = [
    "@",
    "@channel",
    "@all",
    "@here",
    "@ALL",
    "@Here.",
    "@channel:",
    "@security-team",
    "@alice",
    "@bob.",
    "@carol.d",
    "x@all",
    "(@here)",
    "-",
    ".",
    "_",
    " ",
    "\n",
    "e",
]
texts = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=4)), max_size=14).map("".join)


def server_pings(text: str) -> set[str]:
    found = set()
    for name in SERVER_MENTION.findall(text):
        name = name.lower()
        while True:
            if name in {"channel", "all", "here"} or name in USERS or name == "security-team":
                found.add(name)
            if not name or name[-1] not in "._-:":
                break
            name = name[:-1]
    return found


@given(texts)
def test_no_broadcast_or_group_survives(text: str) -> None:
    out = neutralise(text, USERS.__contains__)
    assert server_pings(out) <= USERS
    assert out.replace(ZERO_WIDTH_SPACE, "") == text.replace(ZERO_WIDTH_SPACE, "")


@given(texts, st.sampled_from(sorted(USERS)))
def test_a_user_mention_still_pings_that_user(text: str, user: str) -> None:
    out = neutralise(f"{text} @{user} please", USERS.__contains__)
    assert out.endswith(f" @{user} please")


def test_mentioned_names_leave_broadcasts_out() -> None:
    assert mentioned("@Channel hi @alice. and @sec-team") == ["alice.", "alice", "sec-team"]


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as peer:
        for name in ("alice", "bob"):
            peer.add_user(name)
        yield peer


@pytest.fixture
async def bot(peer: MattermostPeer, sqlite_url: str) -> AsyncIterator[Bot]:
    async with running_bot(peer, sqlite_url) as bot:
        yield bot


async def test_relayed_text_pings_nobody_but_users(bot: Bot, peer: MattermostPeer) -> None:
    square = str(peer.channel("town-square")["id"])
    hostile = "@channel @all @here @security-team"
    reply = await bot.command("alice", square, f"declare sev2 Payments down {hostile}")
    assert ZERO_WIDTH_SPACE in reply.json()["text"]
    channel = peer.channel("inc-1-payments-down-channel-all-here-security-team")
    await bot.command("alice", channel["id"], f"status {hostile} ask @bob")
    await bot.command("alice", channel["id"], f"task add Tell {hostile}")
    await bot.command("alice", channel["id"], f"note {hostile}")
    messages = [post["message"] for post in peer.posts.values()]
    messages += [
        a["text"]
        for post in peer.posts.values()
        for a in (post.get("props") or {}).get("attachments", [])
    ]
    messages.append(channel["header"])
    assert any("Payments down" in m for m in messages)
    for message in messages:
        assert server_pings(message) <= USERS, message
    assert any("ask @bob" in m for m in messages)  # a user's mention still notifies
    assert any("@alice" in m for m in messages)  # as does the bot's own (the commander)
