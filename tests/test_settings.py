"""Settings: defaults, half-configured platforms, database URLs (issue 12, points 2, 3, 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings
from bot.shipped import playbooks_dir


def test_defaults_whatever_the_caller_has() -> None:
    settings = load_settings()
    assert settings.http_port == 3000
    assert settings.database_url == "sqlite+aiosqlite:///warroom.db"
    assert settings.announce_channel is None and settings.catalog is None
    assert settings.platform_problems() == []
    assert not (settings.slack_configured or settings.mattermost_configured)
    # The working folder has no playbooks/: the shipped ones (the checkout's, or the wheel's).
    assert Path(settings.playbooks) == playbooks_dir()


def test_a_playbooks_folder_here_wins_over_the_shipped_one(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "playbooks").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_settings().playbooks == "playbooks"
    assert load_settings(playbooks="elsewhere").playbooks == "elsewhere"


@pytest.mark.parametrize(
    ("values", "problems"),
    [
        ({}, []),
        ({"slack_bot_token": "x", "slack_signing_secret": "s"}, []),
        ({"slack_bot_token": "x", "slack_app_token": "a"}, []),
        ({"mattermost_url": "u", "mattermost_token": "t", "mattermost_team": "eng"}, []),
        (
            {"slack_bot_token": "x"},
            ["SLACK_SIGNING_SECRET is not set (or set SLACK_APP_TOKEN for Socket Mode)"],
        ),
        (
            {"slack_app_token": "a"},
            ["SLACK_BOT_TOKEN is not set (Slack needs the bot token, xoxb-...)"],
        ),
        (
            {"mattermost_url": "u"},
            [
                "MATTERMOST_TOKEN and MATTERMOST_TEAM are not set "
                "(Mattermost needs URL, token and team)"
            ],
        ),
        (
            {"mattermost_command_token": "c", "mattermost_url": "u", "mattermost_token": "t"},
            ["MATTERMOST_TEAM is not set (Mattermost needs URL, token and team)"],
        ),
    ],
)
def test_platform_problems_name_what_is_missing(
    values: dict[str, str], problems: list[str]
) -> None:
    assert Settings(_env_file=None, **values).platform_problems() == problems  # type: ignore[call-arg]


@pytest.mark.parametrize("url", ["garbage", "mysql://x", "", "sqlite+pysqlite:///x.db"])
def test_unknown_database_urls_are_refused(url: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(database_url=url)
    assert str(error.value) == (
        "invalid configuration:\n  WARROOM_DATABASE_URL: Value error, use "
        f"sqlite+aiosqlite:///path.db or postgresql+asyncpg://host/db (got {url!r})"
    )


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite:///w.db", "postgresql+asyncpg://u:p@h:5432/db", "sqlite+aiosqlite://"]
)
def test_async_urls_are_accepted(url: str) -> None:
    assert load_settings(database_url=url).database_url == url
