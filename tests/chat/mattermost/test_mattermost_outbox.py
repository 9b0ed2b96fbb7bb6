"""Posts through the outbox against the Mattermost peer, on SQLite and Postgres: a post that
Mattermost did but answered after the client timeout appears once; a retry after a failure
that did not post posts once; a text split into several posts is deduplicated part by part.
Then the peer's GET /channels/{id}/posts, which those retries read, as the server answers it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from mattermost_bot import Bot, running_bot
from mattermost_peer import MattermostPeer, mattermost_chat, running_peer

from bot.chat.mattermost import translate as t
from bot.chat.mattermost.chat import PROP_KEY, PROP_PART
from bot.core import messages
from bot.core.postmortem.split import split_message
from bot.schedule import outbox as outbox_module

POSTS = "/api/v4/posts"
TIMEOUT = 0.5  # seconds: the client's timeout; a late answer waits for the test, not a clock


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as peer:
        peer.add_user("alice")
        yield peer


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request: pytest.FixtureRequest, peer: MattermostPeer) -> AsyncIterator[Bot]:
    async with running_bot(peer, request.getfixturevalue(f"{request.param}_url")) as bot:
        bot.platform.chat.driver.options["request_timeout"] = TIMEOUT
        yield bot


async def declared(bot: Bot, peer: MattermostPeer) -> str:
    await bot.command("alice", peer.channel("town-square")["id"], "declare sev2 DB down")
    return str(peer.channel("inc-1-db-down")["id"])


def bot_posts(peer: MattermostPeer, channel_id: str, text: str) -> list[dict[str, Any]]:
    return [
        p
        for p in peer.posts_in(channel_id)
        if p["user_id"] == peer.bot["id"] and text in p["message"]
    ]


def searches(peer: MattermostPeer, channel_id: str) -> int:
    return len(peer.calls_to("GET", f"/api/v4/channels/{channel_id}/posts"))


async def test_a_post_mattermost_did_but_answered_after_the_timeout_appears_once(
    bot: Bot, peer: MattermostPeer
) -> None:
    channel_id = await declared(bot, peer)
    answer = peer.answer_late("POST", POSTS)  # done at once, answered only when set
    response = await bot.command("alice", channel_id, "status Rolling back the deploy")
    answer.set()
    assert response.status_code == 200 and peer.command_failures == []
    # The update goes to the incident's channel and is announced: each appears once.
    announce_id = peer.channel("incidents")["id"]
    (post,) = bot_posts(peer, channel_id, "Rolling back the deploy")
    (announced,) = bot_posts(peer, announce_id, "Rolling back the deploy")
    (late,) = [c for c in peer.calls if c.late]
    keys = {p["channel_id"]: p["props"][PROP_KEY] for p in (post, announced)}
    assert late.body["props"][PROP_KEY] == keys[late.body["channel_id"]]
    assert all(key.startswith("wr-") for key in keys.values())  # the outbox rows' keys
    # After the timeout that channel's posts were searched for the key, not posted again.
    assert searches(peer, late.body["channel_id"]) >= 1
    assert sum("Rolling back" in c.body["message"] for c in peer.calls_to("POST", POSTS)) == 2


async def test_a_retry_after_a_failure_that_did_not_post_posts_once(
    bot: Bot, peer: MattermostPeer
) -> None:
    channel_id = await declared(bot, peer)
    channels = [channel_id, peer.channel("incidents")["id"]]  # the update and its announcement
    chat = bot.platform.chat
    # Every try of both first attempts is refused before the server does anything.
    peer.fail("POST", POSTS, 500, times=len(channels) * (chat.retries + 1))
    response = await bot.command("alice", channel_id, "status Still investigating")
    assert response.json()["text"] == messages.RECORDED_CHAT_RETRYING
    before = {c: searches(peer, c) for c in channels}
    for channel in channels:
        assert bot_posts(peer, channel, "Still investigating") == []
        assert before[channel] == chat.retries  # a 500 leaves it unknown: looked each time
    bot.app.clock.advance(seconds=outbox_module.backoff(1))  # type: ignore[attr-defined]
    assert await bot.app.outbox.deliver_due() == len(channels)  # type: ignore[union-attr]
    for channel in channels:
        (post,) = bot_posts(peer, channel, "Still investigating")
        assert post["props"][PROP_PART] == 0
        # The outbox's second attempt looked first (attempts > 1), found nothing, posted once.
        assert searches(peer, channel) == before[channel] + 1
    tries = [c for c in peer.calls_to("POST", POSTS) if "Still investigating" in c.body["message"]]
    assert len(tries) == len(channels) * (chat.retries + 2)


async def long_post(bot: Bot, channel_id: str) -> str:
    """A post as long as two Mattermost posts, written as an outbox row and delivered."""
    text = "\n".join(f"line {n:05d} " + "x" * 90 for n in range(t.MAX_POST // 100 + 10))
    assert len(t.split_message(text)) == 2
    await bot.app.service.chats["mattermost"].post(channel_id, text)
    await bot.app.outbox.deliver_due()  # type: ignore[union-attr]
    return text


async def test_a_long_post_answered_late_appears_once_part_by_part(
    bot: Bot, peer: MattermostPeer
) -> None:
    channel_id = await declared(bot, peer)
    answer = peer.answer_late("POST", POSTS)  # the first part
    text = await long_post(bot, channel_id)
    answer.set()
    first, second = t.split_message(text)
    posted = sorted(bot_posts(peer, channel_id, "line "), key=lambda p: p["props"][PROP_PART])
    assert [p["message"] for p in posted] == [first, second]
    assert posted[0]["props"][PROP_KEY] == posted[1]["props"][PROP_KEY]


async def test_a_long_post_retried_after_its_second_part_failed_keeps_its_first_part(
    bot: Bot, peer: MattermostPeer
) -> None:
    channel_id = await declared(bot, peer)
    chat = bot.platform.chat
    text = "\n".join(f"line {n:05d} " + "x" * 90 for n in range(t.MAX_POST // 100 + 10))
    first, second = t.split_message(text)
    # The first part goes through; then every try of the second is refused (rate limited:
    # not done, so nothing to look for) and the attempt fails.
    peer.fail("POST", POSTS, 429, times=chat.retries + 1, after=1)
    await bot.app.service.chats["mattermost"].post(channel_id, text)
    await bot.app.outbox.deliver_due()  # type: ignore[union-attr]
    assert [p["message"] for p in bot_posts(peer, channel_id, "line ")] == [first]
    bot.app.clock.advance(seconds=outbox_module.backoff(1))  # type: ignore[attr-defined]
    await bot.app.outbox.deliver_due()  # type: ignore[union-attr]
    posted = sorted(bot_posts(peer, channel_id, "line "), key=lambda p: p["props"][PROP_PART])
    assert [p["message"] for p in posted] == [first, second]
    # The retry found the first part by its key and posted only the second.
    tries = [
        c.body["message"] for c in peer.calls_to("POST", POSTS) if "line " in c.body["message"]
    ]
    assert tries == [first] + [second] * (chat.retries + 2)


# -- the peer's GET /channels/{id}/posts, as the server answers it ----------------------------


async def test_channel_posts_newest_first_with_props_as_given(peer: MattermostPeer) -> None:
    chat = mattermost_chat(peer)
    channel_id = peer.channel("town-square")["id"]
    ids = [
        str((await chat._call(chat.driver.posts.create_post, body))["id"])
        for body in (
            {"channel_id": channel_id, "message": "one", "props": {"warroom_key": "k1"}},
            {"channel_id": channel_id, "message": "two", "props": {"add_channel_member": {}}},
        )
    ]
    page = await chat._call(chat.driver.posts.get_posts_for_channel, channel_id)
    assert page["order"] == ids[::-1]
    # Kept as given, from_bot added for a bot; add_channel_member stripped (SanitizeProps).
    assert page["posts"][ids[0]]["props"] == {"warroom_key": "k1", "from_bot": "true"}
    assert page["posts"][ids[1]]["props"] == {"from_bot": "true"}


async def test_channel_posts_since_is_update_at_in_milliseconds(peer: MattermostPeer) -> None:
    chat = mattermost_chat(peer)
    channel_id = peer.channel("town-square")["id"]
    peer.add_user("bob")
    old = await peer.user_posts("bob", channel_id, "old")
    new = await peer.user_posts("bob", channel_id, "new")
    gone = await peer.user_posts("bob", channel_id, "gone")
    since = new["create_at"] - 1
    await peer.user_edits(old["id"], "old, edited")  # update_at moves past `since`
    await peer.user_deletes(gone["id"])

    async def get(**params: Any) -> Any:
        return await chat._call(chat.driver.posts.get_posts_for_channel, channel_id, params)

    changed = await get(since=since)
    # Updated after `since` (strictly), deleted ones included, newest created first.
    assert changed["order"] == [gone["id"], new["id"], old["id"]]
    assert changed["posts"][gone["id"]]["delete_at"] > 0
    assert (await get(since=peer.posts[gone["id"]]["update_at"]))["order"] == []
    # Without `since`: the live posts, a page of per_page.
    assert (await get(per_page=1))["order"] == [new["id"]]
    assert (await get(per_page=1, page=1))["order"] == [old["id"]]
    assert (await get(per_page=1000))["order"] == [new["id"], old["id"]]


# -- MattermostChat.post_once against the peer alone --------------------------------------------


async def test_a_retry_of_a_post_that_is_there_posts_nothing(peer: MattermostPeer) -> None:
    chat = mattermost_chat(peer)
    channel_id = peer.channel("town-square")["id"]
    first = await chat.post_once(channel_id, "Rolled back", key="wr-1")
    again = await chat.post_once(channel_id, "Rolled back", key="wr-1", look_first=True)
    assert again == first
    assert len(peer.calls_to("POST", POSTS)) == 1
    other = await chat.post_once(channel_id, "Rolled back", key="wr-2", look_first=True)
    assert other != first and len(peer.posts_in(channel_id)) == 2


async def test_a_persons_post_with_the_same_props_is_not_taken_for_ours(
    peer: MattermostPeer,
) -> None:
    chat = mattermost_chat(peer)
    channel_id = peer.channel("town-square")["id"]
    peer.add_user("mallory")
    forged = await peer.user_posts("mallory", channel_id, "nothing to see")
    forged["props"] = {PROP_KEY: "wr-1", PROP_PART: 0}
    ours = await chat.post_once(channel_id, "Rolled back", key="wr-1", look_first=True)
    assert ours != forged["id"] and peer.posts[ours]["user_id"] == peer.bot["id"]


async def test_a_timed_out_post_that_was_done_is_found_not_posted_again(
    peer: MattermostPeer,
) -> None:
    chat = mattermost_chat(peer)
    channel_id = peer.channel("town-square")["id"]
    chat.driver.options["request_timeout"] = TIMEOUT
    answer = peer.answer_late("POST", POSTS)
    post_id = await chat.post_once(channel_id, "Rolled back", key="wr-1")
    answer.set()
    assert [p["id"] for p in peer.posts_in(channel_id)] == [post_id]
    assert chat.retried == 1 and searches(peer, channel_id) == 1


# -- the lease over a rate limit's wait ---------------------------------------------------------


async def test_a_rate_limit_wait_longer_than_the_lease_keeps_the_row(
    bot: Bot, peer: MattermostPeer
) -> None:
    """The server's 429 asks for waits that add up past the lease: the worker renews the
    lease before each wait, so a second worker polling meanwhile cannot claim the row."""
    channel_id = await declared(bot, peer)
    outbox = bot.app.outbox
    assert outbox is not None
    clock = bot.app.clock
    chat = bot.platform.chat
    lease = outbox.lease_seconds
    wait = int(chat.max_delay)  # the server asks for this long each time; we wait as long
    peer.rate_limit("POST", POSTS, retry_after=wait, times=3)
    other = outbox.__class__(outbox.outbox, bot.app.store, outbox.chats, clock, name="other")
    claimed_by_other: list[int] = []
    waits: list[float] = []

    async def sleep_and_look(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds=seconds)  # type: ignore[attr-defined]
        # Mid-wait, past the original lease: the other worker finds nothing to take.
        claimed = await other.outbox.claim("other", clock.now(), limit=10, lease_seconds=lease)
        claimed_by_other.extend(c.id for c in claimed)

    chat.sleep = sleep_and_look
    started = clock.now()
    response = await bot.command("alice", channel_id, "status Waiting on the rate limit")
    assert response.status_code == 200
    await outbox.deliver_due()
    assert waits == [wait] * 3  # Retry-After, as the server sent it
    assert claimed_by_other == []
    assert len(bot_posts(peer, channel_id, "Waiting on the rate limit")) == 1
    (announced,) = bot_posts(peer, peer.channel("incidents")["id"], "Waiting on the rate limit")
    assert announced
    # The waits really outlived the original lease.
    assert (clock.now() - started).total_seconds() > lease


# -- a refused upload's text fallback -----------------------------------------------------------


def postmortem_text() -> str:
    """A postmortem long enough for two posts of the text fallback (split_message)."""
    return "\n".join(f"| 10:{n % 60:02d} | event {n} |" for n in range(700))


async def upload(bot: Bot, channel_id: str, markdown: str) -> None:
    """The postmortem's upload, written as an outbox row."""
    chat = bot.app.service.chats["mattermost"]
    await chat.upload(channel_id, "inc-1-postmortem.md", markdown.encode(), "INC-1 postmortem")


def pieces_posted(peer: MattermostPeer, channel_id: str) -> list[str]:
    return [p["message"] for p in bot_posts(peer, channel_id, "| 10:")]


async def test_a_refused_uploads_text_answered_late_appears_once(
    bot: Bot, peer: MattermostPeer
) -> None:
    """Uploads are refused (403): the postmortem goes out as text, in two posts. The server
    does the first but answers after the client's timeout; the retry finds it by its props
    instead of posting it again, and each piece appears once."""
    channel_id = await declared(bot, peer)
    markdown = postmortem_text()
    pieces = split_message(markdown)
    assert len(pieces) == 2
    peer.upload_refusal = 403
    answer = peer.answer_late("POST", POSTS)  # the first piece
    await upload(bot, channel_id, markdown)
    assert bot.app.outbox is not None
    await bot.app.outbox.deliver_due()
    answer.set()
    assert pieces_posted(peer, channel_id) == pieces
    (late,) = [c for c in peer.calls if c.late]
    assert late.body["props"][PROP_KEY].startswith("wr-")  # the row's key and the piece's
    assert searches(peer, channel_id) >= 1
    assert await bot.app.outbox.outbox.count() == 0


async def test_a_refused_uploads_text_retried_keeps_the_pieces_posted(
    bot: Bot, peer: MattermostPeer
) -> None:
    """The first piece goes through, every try of the second is rate limited and the attempt
    fails: the next attempt of the row finds the first piece by its key, posts the second."""
    channel_id = await declared(bot, peer)
    chat = bot.platform.chat
    markdown = postmortem_text()
    pieces = split_message(markdown)
    peer.upload_refusal = 403
    peer.rate_limit("POST", POSTS, times=chat.retries + 1, after=1)
    await upload(bot, channel_id, markdown)
    assert bot.app.outbox is not None
    await bot.app.outbox.deliver_due()
    assert pieces_posted(peer, channel_id) == pieces[:1]
    bot.app.clock.advance(seconds=outbox_module.backoff(1))  # type: ignore[attr-defined]
    await bot.app.outbox.deliver_due()
    assert pieces_posted(peer, channel_id) == pieces
    assert await bot.app.outbox.outbox.count() == 0
