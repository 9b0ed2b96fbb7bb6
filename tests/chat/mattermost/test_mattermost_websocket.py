"""The websocket loop end to end: authentication_challenge, hello, events from the local peer
onto the incident timeline; duplicates, edits, deletions, pins; reconnection; wss://."""

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


async def test_a_refused_token_backs_off_and_keeps_trying(peer: MattermostPeer) -> None:
    sleep = FakeSleep()
    seen = SeenEvents(ignore)
    url = peer.url.replace("http", "ws") + "/api/v4/websocket"
    socket = MattermostWebsocket(url, "wrong-token", seen, sleep=sleep)
    task = asyncio.create_task(socket.run())
    try:
        await sleep.wait_calls(3)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert sleep.delays[:3] == [1.0, 2.0, 4.0]
    assert socket.connections == 0 and peer.logins == 0


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
