"""The platform as the composition root builds it, and the timeline follower on every Store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from mattermost_peer import TOKEN, FakeSleep, MattermostPeer, mattermost_chat, running_peer
from starlette.routing import Route

from bot.app import build_app, configured_platforms
from bot.chat.mattermost import events
from bot.chat.mattermost.platform import (
    MattermostPlatform,
    TimelineFollower,
    build_mattermost_platform,
)
from bot.core.clock import ManualClock
from bot.core.commands import Declare
from bot.core.model import EventKind
from bot.core.ports import Store
from bot.core.service import IncidentService, Invocation
from bot.settings import Settings, SettingsError


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as peer:
        peer.add_user("alice")
        yield peer


async def test_configured_platforms_has_mattermost_when_its_settings_are_present(
    sqlite_url: str,
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=sqlite_url,
        mattermost_url="https://chat.example.com",
        mattermost_token=TOKEN,
        mattermost_team="eng",
        mattermost_command_token="c",
    )
    app = await build_app(settings)
    try:
        (platform,) = configured_platforms(app)
        assert isinstance(platform, MattermostPlatform)
        paths = {r.path for r in platform.routes() if isinstance(r, Route)}
        assert paths == {"/mattermost/command", "/mattermost/actions", "/mattermost/dialog"}
        assert platform.socket.url == "wss://chat.example.com:443/api/v4/websocket"

        app.settings = settings.model_copy(update={"mattermost_team": None})
        with pytest.raises(SettingsError, match="MATTERMOST_TEAM"):
            configured_platforms(app)

        app.settings = settings.model_copy(update={"mattermost_url": None})
        assert configured_platforms(app) == []
    finally:
        await app.close()


async def test_a_duplicated_post_is_recorded_once_on_every_store(
    store: Store, peer: MattermostPeer, clock: ManualClock
) -> None:
    chat = mattermost_chat(peer)
    await chat.connect()
    service = IncidentService(store, {"mattermost": chat}, clock)
    incident = await service.declare(Invocation("alice", "mattermost"), Declare("DB down"))
    assert incident.channel_id is not None
    follow = TimelineFollower(chat, service)
    alice = peer.user("alice")["id"]
    at = datetime(2026, 1, 1, 12, 5, tzinfo=UTC)
    post = events.Posted("p" * 26, incident.channel_id, alice, "failing over", at, "")

    await follow(post)
    await follow(post)
    await follow(events.Posted("q" * 26, incident.channel_id, chat.bot_user_id, "summary", at, ""))
    await follow(events.Posted("r" * 26, incident.channel_id, alice, "joined", at, "system_join"))
    await follow.drain()

    timeline = await store.timeline(incident.number)
    recorded = [e for e in timeline if e.kind is EventKind.MESSAGE]
    assert [(e.actor, e.text, e.occurred_at) for e in recorded] == [("alice", "failing over", at)]


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"mattermost_token": "wrong"}, "MATTERMOST_TOKEN"),
        ({"mattermost_team": "nope"}, "MATTERMOST_TEAM"),
        ({"mattermost_url": "http://127.0.0.1:9"}, "MATTERMOST_URL"),
    ],
)
async def test_start_names_the_setting_to_fix(
    peer: MattermostPeer, sqlite_url: str, change: dict[str, str], names: str
) -> None:
    values = {"mattermost_url": peer.url, "mattermost_token": TOKEN, "mattermost_team": "eng"}
    settings = Settings(_env_file=None, database_url=sqlite_url, **{**values, **change})  # type: ignore[call-arg]
    app = await build_app(settings)
    try:
        platform = build_mattermost_platform(app, sleep=FakeSleep())
        with pytest.raises(SettingsError, match=names):
            await platform.start()
    finally:
        await app.close()
