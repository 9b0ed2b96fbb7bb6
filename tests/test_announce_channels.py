"""Announcement channels per platform: Slack wants a channel id, Mattermost a channel name,
so each platform has its own setting and WARROOM_ANNOUNCE_CHANNEL is the fallback for one."""

from __future__ import annotations

from pathlib import Path

import pytest
from mattermost_peer import COMMAND_TOKEN, TOKEN, FakeSleep, running_peer
from slack_bolt.authorization import AuthorizeResult
from slack_peer import BOT_ID, BOT_TOKEN, BOT_USER_ID, TEAM_ID, RecordingSleep, SlackPeer

from bot.app import build_app
from bot.chat.mattermost.platform import build_mattermost_platform
from bot.chat.slack.platform import build_slack_platform
from bot.core.clock import ManualClock
from bot.core.service import Invocation
from bot.settings import Settings, SettingsError

SLACK = {"slack_bot_token": "xoxb-1", "slack_signing_secret": "s"}
MATTERMOST = {"mattermost_url": "http://mm.example", "mattermost_token": "t"}
NO_PLAYBOOKS = str(Path(__file__).parent / "no-playbooks")


def settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_each_platform_has_its_own_channel() -> None:
    both = settings(
        **SLACK,
        **MATTERMOST,
        slack_announce_channel="C0ANNOUNCE",
        mattermost_announce_channel="incidents",
    )
    assert both.announce_channels() == {"slack": "C0ANNOUNCE", "mattermost": "incidents"}


def test_the_shared_setting_serves_a_single_platform_and_fills_in() -> None:
    only_slack = settings(**SLACK, announce_channel="C0ANNOUNCE")
    assert only_slack.announce_channels()["slack"] == "C0ANNOUNCE"
    assert settings(announce_channel="general").announce_channels()["console"] == "general"
    partly = settings(
        **SLACK, **MATTERMOST, announce_channel="incidents", slack_announce_channel="C0ANN"
    )
    assert partly.announce_channels() == {
        "slack": "C0ANN",
        "mattermost": "incidents",
        "console": "incidents",
    }
    assert settings(**SLACK, **MATTERMOST).announce_channels() == {}


def test_one_shared_channel_for_two_platforms_is_an_error_naming_what_to_set() -> None:
    with pytest.raises(SettingsError) as error:
        settings(**SLACK, **MATTERMOST, announce_channel="incidents").announce_channels()
    assert "SLACK_ANNOUNCE_CHANNEL" in str(error.value)
    assert "MATTERMOST_ANNOUNCE_CHANNEL" in str(error.value)


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_ANNOUNCE_CHANNEL", "C0FROMENV1")
    monkeypatch.setenv("MATTERMOST_ANNOUNCE_CHANNEL", "town-square")
    loaded = Settings(_env_file=None)  # type: ignore[call-arg]
    assert loaded.slack_announce_channel == "C0FROMENV1"
    assert loaded.mattermost_announce_channel == "town-square"


async def authorize(**_: object) -> AuthorizeResult:
    return AuthorizeResult(
        enterprise_id=None,
        team_id=TEAM_ID,
        bot_token=BOT_TOKEN,
        bot_id=BOT_ID,
        bot_user_id=BOT_USER_ID,
    )


async def test_one_process_announces_on_each_platform_in_its_own_channel(
    sqlite_url: str,
) -> None:
    async with SlackPeer() as slack, running_peer() as mattermost:
        mattermost.add_user("alice")
        announce = mattermost.add_channel("incidents")
        app = await build_app(
            settings(
                database_url=sqlite_url,
                playbooks=NO_PLAYBOOKS,
                slack_bot_token=BOT_TOKEN,
                slack_signing_secret="secret",
                slack_api_url=slack.api_url,
                slack_announce_channel="C0ANNOUNCE",
                mattermost_url=mattermost.url,
                mattermost_token=TOKEN,
                mattermost_team=mattermost.team["name"],
                mattermost_command_token=COMMAND_TOKEN,
                mattermost_announce_channel="incidents",
            ),
            clock=ManualClock(),
        )
        try:
            app.add_platform(build_slack_platform(app, authorize=authorize, sleep=RecordingSleep()))
            app.add_platform(build_mattermost_platform(app, sleep=FakeSleep()))
            await app.router.handle(Invocation("U0ALICE001", "slack", "C0GENERAL1"), "declare A")
            town_square = mattermost.channel("town-square")["id"]
            await app.router.handle(Invocation("alice", "mattermost", town_square), "declare B")
        finally:
            await app.close()
        (slack_post,) = [m for m in slack.messages.values() if m.channel == "C0ANNOUNCE"]
        assert "INC-1 declared" in slack_post.text
        (mm_post,) = mattermost.posts_in(announce["id"])
        assert "INC-2 declared" in mm_post["message"]
        looked_up = mattermost.calls_to("GET", r"/api/v4/teams/\w+/channels/name/incidents")
        assert looked_up  # a name on Mattermost, resolved in the team
        assert not any(c.method == "GET" and "C0ANNOUNCE" in c.path for c in mattermost.calls)
