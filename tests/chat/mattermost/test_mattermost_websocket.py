"""The websocket loop end to end: the token on the upgrade, hello, events from the local peer
onto the incident timeline; duplicates, edits, deletions, pins; reconnection and resume
(no hello, missed events replayed); a refused token; wss://."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mattermost_bot import Bot, SeenEvents, running_bot
from mattermost_peer import TOKEN, FakeSleep, MattermostPeer, mattermost_chat, running_peer

from bot.chat.mattermost import events
from bot.chat.mattermost import translate as t
from bot.chat.mattermost.chat import MattermostChat
from bot.chat.mattermost.websocket import MattermostWebsocket
from bot.core.model import EventKind


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as peer:
        peer.add_user("alice")
        peer.add_user("bob")
        yield peer


@pytest.fixture
async def bot(peer: MattermostPeer, sqlite_url: str) -> AsyncIterator[Bot]:
    async with running_bot(peer, sqlite_url) as bot:
        await bot.platform.start()
        await asyncio.wait_for(bot.platform.socket.connected.wait(), 10)
        yield bot


async def declared(bot: Bot, peer: MattermostPeer) -> str:
    await bot.command("alice", peer.channel("town-square")["id"], "declare sev2 DB down")
    return str(peer.channel("inc-1-db-down")["id"])


def posted(post_id: str) -> object:
    return lambda e: isinstance(e, events.Posted) and e.post_id == post_id


async def ignore(event: events.Event) -> None:
    pass


async def messages(bot: Bot) -> list[object]:
    return [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.MESSAGE]


async def test_messages_reach_the_timeline_once_and_the_bots_own_do_not(
    bot: Bot, peer: MattermostPeer
) -> None:
    channel_id = await declared(bot, peer)
    post = await peer.user_posts("alice", channel_id, "restarting the primary")
    await bot.seen.wait_for(posted(post["id"]))
    # A second delivery of the same event (a replay after reconnecting) changes nothing.
    await peer.send_event("posted", post)
    await bot.seen.wait_for(lambda e: bot.seen.events.count(e) == 2 and posted(post["id"])(e))

    (event,) = await messages(bot)
    assert (event.actor, event.text) == ("alice", "restarting the primary")  # type: ignore[attr-defined]
    assert event.source_key == f"mattermost:{post['id']}"  # type: ignore[attr-defined]
    assert event.occurred_at == datetime.fromtimestamp(post["create_at"] / 1000, UTC)  # type: ignore[attr-defined]
    # The bot's summary and announcement came over the websocket too, and were skipped.
    assert any(
        isinstance(e, events.Posted) and e.user_id == peer.bot["id"] for e in bot.seen.events
    )


async def test_edits_deletions_and_pushpins_follow_the_message(
    bot: Bot, peer: MattermostPeer
) -> None:
    channel_id = await declared(bot, peer)
    post = await peer.user_posts("alice", channel_id, "primary is donw")
    await bot.seen.wait_for(posted(post["id"]))
    key = t.source_key(post["id"])

    await peer.user_edits(post["id"], "primary is down")
    await bot.seen.wait_for(lambda e: isinstance(e, events.Edited) and e.post_id == post["id"])
    event = await bot.app.store.get_event(key)
    assert event is not None and event.text == "primary is down"
    assert event.data["original_text"] == "primary is donw"

    await peer.user_reacts("bob", post["id"], "thumbsup")
    await peer.user_reacts("bob", post["id"], "pushpin")
    await bot.seen.wait_for(lambda e: isinstance(e, events.Reacted) and e.emoji == "pushpin")
    event = await bot.app.store.get_event(key)
    assert event is not None
    assert (event.data["highlight"], event.data["highlighted_by"]) == (True, "bob")

    await peer.user_deletes(post["id"])
    await bot.seen.wait_for(lambda e: isinstance(e, events.Deleted))
    event = await bot.app.store.get_event(key)
    assert event is not None and event.deleted_at is not None


async def test_our_in_channel_answers_posted_under_the_users_id_are_not_her_messages(
    bot: Bot, peer: MattermostPeer
) -> None:
    channel_id = await declared(bot, peer)
    await bot.command("alice", channel_id, "task add Page the DBA")
    await bot.command("alice", channel_id, "followup Alert on replica lag")
    answers = [p for p in peer.posts_in(channel_id) if p["user_id"] == peer.user("alice")["id"]]
    # As Mattermost posts them: under alice's id, marked as an integration's.
    assert len(answers) == 2 and all(p["props"]["from_webhook"] == "true" for p in answers)
    said = await peer.user_posts("alice", channel_id, "DBA paged by phone")
    await bot.seen.wait_for(posted(said["id"]))
    assert all(any(posted(p["id"])(e) for e in bot.seen.events) for p in answers)
    assert [e.text for e in await messages(bot)] == ["DBA paged by phone"]  # type: ignore[attr-defined]


async def test_messages_outside_incident_channels_are_not_recorded(
    bot: Bot, peer: MattermostPeer
) -> None:
    await declared(bot, peer)
    post = await peer.user_posts("alice", peer.channel("town-square")["id"], "lunch?")
    await bot.seen.wait_for(posted(post["id"]))
    assert await messages(bot) == []
    assert await bot.app.store.get_event(t.source_key(post["id"])) is None


async def test_reconnects_with_backoff_and_asks_to_resume(bot: Bot, peer: MattermostPeer) -> None:
    peer.websocket_refusals = 2
    await peer.drop_sockets()
    await peer.wait_logins(2)
    await asyncio.wait_for(bot.platform.socket.connected.wait(), 10)
    # Once after the drop, then doubling while the server refuses.
    assert bot.sleep.delays == [1.0, 1.0, 2.0]
    assert bot.platform.socket.connections == 2
    assert "connection_id=" in peer.websocket_queries[-1]
    assert "sequence_number=" in peer.websocket_queries[-1]

    channel_id = await declared(bot, peer)
    post = await peer.user_posts("bob", channel_id, "back online")
    await bot.seen.wait_for(posted(post["id"]))
    assert [e.text for e in await messages(bot)] == ["back online"]  # type: ignore[attr-defined]


async def test_a_refused_token_is_an_error_naming_the_setting_and_retried_slowly(
    peer: MattermostPeer, caplog: pytest.LogCaptureFixture
) -> None:
    sleep = FakeSleep()
    seen = SeenEvents(ignore)
    url = peer.url.replace("http", "ws") + "/api/v4/websocket"
    chat = MattermostChat.from_settings(peer.url, "wrong-token", peer.team["name"], sleep=sleep)
    socket = MattermostWebsocket(
        url, "wrong-token", seen, sleep=sleep, check_token=chat.token_accepted
    )
    task = asyncio.create_task(socket.run())
    try:
        await sleep.wait_calls(3)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # As the server does it: the upgrade succeeds, the socket is never authenticated and is
    # closed without a word. Not a blip to retry every second, and not quiet.
    assert peer.upgrade_auth[0] == "Bearer wrong-token"
    assert sleep.delays[:3] == [60.0, 60.0, 60.0]
    assert socket.refused >= 3 and peer.logins == 0 and seen.events == []
    ours = [r for r in caplog.records if r.name == "bot.chat.mattermost.websocket"]
    assert ours and all(r.levelname == "ERROR" for r in ours)
    assert "MATTERMOST_TOKEN" in ours[0].getMessage()
    assert "wrong-token" not in caplog.text


async def test_the_token_goes_on_the_upgrade_and_a_reconnect_resumes_without_hello(
    bot: Bot, peer: MattermostPeer
) -> None:
    channel_id = await declared(bot, peer)
    assert peer.upgrade_auth == [f"Bearer {TOKEN}"]
    await peer.drop_sockets()
    # Posted while the bot is away: the server queues it for the connection.
    missed = await peer.user_posts("bob", channel_id, "failover done")
    await peer.wait_logins(2)
    await bot.seen.wait_for(posted(missed["id"]))
    assert peer.resumes == 1
    assert bot.platform.socket.hellos == 1  # the first connection's only
    assert bot.platform.socket.connections == 2
    assert [e.text for e in await messages(bot)] == ["failover done"]  # type: ignore[attr-defined]
    # And the resumed connection carries on with new events.
    later = await peer.user_posts("alice", channel_id, "all green")
    await bot.seen.wait_for(posted(later["id"]))
    assert [e.text for e in await messages(bot)] == ["failover done", "all green"]  # type: ignore[attr-defined]


async def test_a_dropped_connection_with_a_good_token_reconnects_at_once(
    peer: MattermostPeer,
) -> None:
    sleep = FakeSleep()
    url = peer.url.replace("http", "ws") + "/api/v4/websocket"
    checked: list[bool] = []

    async def check() -> bool:
        checked.append(True)
        return True

    socket = MattermostWebsocket(url, TOKEN, SeenEvents(ignore), sleep=sleep, check_token=check)
    task = asyncio.create_task(socket.run())
    try:
        await peer.wait_logins(1)
        await peer.drop_sockets()
        await peer.wait_logins(2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # It had said hello, so the token is fine: no REST check, no slow retry.
    assert sleep.delays[0] == 1.0 and checked == [] and socket.refused == 0


async def test_a_server_that_forgot_the_connection_starts_a_new_one(
    bot: Bot, peer: MattermostPeer
) -> None:
    await peer.drop_sockets()
    peer.forget_connections()  # a server restart
    await peer.wait_logins(2)
    await asyncio.wait_for(bot.platform.socket.connected.wait(), 10)
    channel_id = await declared(bot, peer)
    post = await peer.user_posts("bob", channel_id, "back")
    await bot.seen.wait_for(posted(post["id"]))
    assert peer.resumes == 0 and bot.platform.socket.hellos == 2


def test_wss_uses_a_verifying_server_context() -> None:
    socket = MattermostWebsocket("wss://chat.example.com/api/v4/websocket", TOKEN, print)  # type: ignore[arg-type]
    assert socket.ssl_context is not None
    assert socket.ssl_context.verify_mode is ssl.CERT_REQUIRED
    assert socket.ssl_context.check_hostname is True


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test certificate; it is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_rest_and_websocket_over_tls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    async with running_peer(ssl_context=server) as peer:
        chat = mattermost_chat(peer, verify=str(cert))
        await chat.connect()
        assert chat.team_id == peer.team["id"]

        seen = SeenEvents(ignore)
        url = peer.url.replace("https", "wss") + "/api/v4/websocket"
        client = ssl.create_default_context(cafile=str(cert))
        socket = MattermostWebsocket(url, TOKEN, seen, sleep=FakeSleep(), ssl_context=client)
        task = asyncio.create_task(socket.run())
        try:
            await asyncio.wait_for(socket.connected.wait(), 10)
            peer.add_user("alice")
            post = await peer.user_posts("alice", peer.channel("town-square")["id"], "hi")
            await seen.wait_for(posted(post["id"]))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
