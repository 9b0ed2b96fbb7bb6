"""Typed settings from the environment (and a `.env` file), validated once at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.redact import SECRET_SETTINGS, mask_url


def _env(name: str) -> AliasChoices:
    # Read from the documented environment name, but also accept the field name so tests
    # and embedders can build Settings(database_url=...) directly.
    return AliasChoices(name, name.lower().removeprefix("warroom_"))


class Settings(BaseSettings):
    # Secrets are kept out of repr() so a logged Settings never leaks a token.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        "sqlite+aiosqlite:///warroom.db", validation_alias=_env("WARROOM_DATABASE_URL")
    )
    playbooks: str = Field("playbooks", validation_alias=_env("WARROOM_PLAYBOOKS"))
    catalog: str | None = Field(None, validation_alias=_env("WARROOM_CATALOG"))
    http_port: int = Field(3000, ge=1, le=65535, validation_alias=_env("WARROOM_HTTP_PORT"))
    announce_channel: str | None = Field(None, validation_alias=_env("WARROOM_ANNOUNCE_CHANNEL"))
    # Per platform: Slack wants a channel id (C0123ABCD), Mattermost a channel name.
    slack_announce_channel: str | None = Field(
        None, validation_alias=_env("SLACK_ANNOUNCE_CHANNEL")
    )
    mattermost_announce_channel: str | None = Field(
        None, validation_alias=_env("MATTERMOST_ANNOUNCE_CHANNEL")
    )
    slack_bot_token: str | None = Field(None, repr=False, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: str | None = Field(
        None, repr=False, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: str | None = Field(None, repr=False, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str | None = Field(None, validation_alias=_env("SLACK_API_URL"))
    mattermost_url: str | None = Field(None, validation_alias=_env("MATTERMOST_URL"))
    mattermost_token: str | None = Field(
        None, repr=False, validation_alias=_env("MATTERMOST_TOKEN")
    )
    mattermost_team: str | None = Field(None, validation_alias=_env("MATTERMOST_TEAM"))
    mattermost_command_token: str | None = Field(
        None, repr=False, validation_alias=_env("MATTERMOST_COMMAND_TOKEN")
    )
    # Where Mattermost reaches this bot for button and dialog callbacks, e.g.
    # https://warroom.example.com (the routes /mattermost/actions and /mattermost/dialog).
    public_url: str | None = Field(None, validation_alias=_env("WARROOM_PUBLIC_URL"))
    # Alert webhooks (/alerts/alertmanager, /alerts/grafana): off while the token is unset.
    alerts_token: str | None = Field(
        None, repr=False, validation_alias=_env("WARROOM_ALERTS_TOKEN")
    )
    alert_rules: str | None = Field(None, validation_alias=_env("WARROOM_ALERT_RULES"))
    # Who may see and steer every incident: user ids or names, comma-separated, each for every
    # platform (`alice`) or one (`slack:U0123ABCD`, `mattermost:alice`).
    admins: str | None = Field(None, validation_alias=_env("WARROOM_ADMINS"))
    # PagerDuty Events API v2 endpoint; used for services/teams whose catalog entry has a
    # routing key (`pagerduty:` or the `pagerduty.com/integration-key` annotation).
    pagerduty_url: str | None = Field(None, validation_alias=_env("WARROOM_PAGERDUTY_URL"))

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        # People paste the URL they use elsewhere; name the async driver we need instead of
        # failing later inside SQLAlchemy with a less helpful message.
        if url.startswith(("postgres://", "postgresql://")):
            raise ValueError("use postgresql+asyncpg://... (warroom needs the async driver)")
        if url.startswith("sqlite://"):
            raise ValueError("use sqlite+aiosqlite:///path.db (warroom needs the async driver)")
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path.db or postgresql+asyncpg://host/db")
        return url

    @model_validator(mode="after")
    def _shipped_playbooks(self) -> Settings:
        # Unset and no ./playbooks (a first try from another folder, a container): the
        # playbooks that come with warroom, rather than incidents with no checklist.
        if "playbooks" not in self.model_fields_set and not Path(self.playbooks).is_dir():
            from bot.shipped import playbooks_dir

            self.playbooks = str(playbooks_dir())
        return self

    def platform_problems(self) -> list[str]:
        """What is missing for each platform that has some but not all of its settings."""
        problems = []
        slack = {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_APP_TOKEN": self.slack_app_token,
        }
        if any(slack.values()):
            if not self.slack_bot_token:
                problems.append("SLACK_BOT_TOKEN is not set (Slack needs the bot token, xoxb-...)")
            if not (self.slack_signing_secret or self.slack_app_token):
                problems.append(
                    "SLACK_SIGNING_SECRET is not set (or set SLACK_APP_TOKEN for Socket Mode)"
                )
        mattermost = {
            "MATTERMOST_URL": self.mattermost_url,
            "MATTERMOST_TOKEN": self.mattermost_token,
            "MATTERMOST_TEAM": self.mattermost_team,
        }
        if any(mattermost.values()) or self.mattermost_command_token:
            missing = [name for name, value in mattermost.items() if not value]
            if missing:
                verb = "is" if len(missing) == 1 else "are"
                problems.append(
                    f"{' and '.join(missing)} {verb} not set (Mattermost needs URL, token and team)"
                )
        return problems

    @property
    def admin_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in (self.admins or "").split(",") if name.strip())

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_app_token or (self.slack_bot_token and self.slack_signing_secret))

    @property
    def mattermost_configured(self) -> bool:
        return bool(self.mattermost_url and self.mattermost_token)

    def announce_channels(self) -> dict[str, str]:
        """Platform -> announcement channel. WARROOM_ANNOUNCE_CHANNEL fills in for a platform
        without its own, but one value cannot be both a Slack id and a Mattermost name: with
        both platforms configured, at least one needs its own (SettingsError otherwise)."""
        fallback = self.announce_channel
        own = {"slack": self.slack_announce_channel, "mattermost": self.mattermost_announce_channel}
        both = self.slack_configured and self.mattermost_configured
        if fallback and both and not any(own.values()):
            raise SettingsError(
                "WARROOM_ANNOUNCE_CHANNEL cannot serve Slack and Mattermost at once (Slack "
                "wants a channel id, Mattermost a channel name): set SLACK_ANNOUNCE_CHANNEL "
                "and MATTERMOST_ANNOUNCE_CHANNEL (or one of them; the other platform then "
                "uses WARROOM_ANNOUNCE_CHANNEL)"
            )
        channels = {"console": fallback, **{p: v or fallback for p, v in own.items()}}
        return {platform: channel for platform, channel in channels.items() if channel}


class SettingsError(Exception):
    pass


def load_settings(**overrides: object) -> Settings:
    """Settings, or a SettingsError whose message names each bad variable and why."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "?"
            env = _ENV_NAMES.get(name, name.upper())
            lines.append(f"{env}: {problem['msg']} (got {_shown(name, problem.get('input'))})")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def _shown(name: str, value: object) -> str:
    """A bad value as an error may show it: secrets never, URLs without their password."""
    if name in SECRET_SETTINGS:
        return "a value, not shown: it is a secret"
    return mask_url(repr(value))


_ENV_NAMES = {
    name: next(iter(field.validation_alias.choices))  # type: ignore[union-attr]
    for name, field in Settings.model_fields.items()
}
