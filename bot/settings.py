"""Typed settings from the environment (and a `.env` file), validated once at start-up."""

from __future__ import annotations

from pydantic import AliasChoices, Field, ValidationError, field_validator
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
    # Who may see and steer every incident: user ids or names, comma-separated, each for every
    # platform (`alice`) or one (`slack:U0123ABCD`, `mattermost:alice`).
    admins: str | None = Field(None, validation_alias=_env("WARROOM_ADMINS"))

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        # People paste the URL they use elsewhere; name the async driver we need instead of
        # failing later inside SQLAlchemy with a less helpful message.
        if url.startswith(("postgres://", "postgresql://")):
            raise ValueError("use postgresql+asyncpg://... (warroom needs the async driver)")
        if url.startswith("sqlite://"):
            raise ValueError("use sqlite+aiosqlite:///path.db (warroom needs the async driver)")
        return url

    @property
    def admin_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in (self.admins or "").split(",") if name.strip())

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_app_token or (self.slack_bot_token and self.slack_signing_secret))

    @property
    def mattermost_configured(self) -> bool:
        return bool(self.mattermost_url and self.mattermost_token)


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
