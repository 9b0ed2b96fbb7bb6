"""Secrets stay out of every message, log line and health check.

Passwords in URLs are masked wherever a URL is shown (`postgresql+asyncpg://warroom:***@db/x`),
and the configured secrets (bot tokens, signing secret, command token, the database password)
are replaced in every log record, tracebacks included, by a filter on the log handlers: a
library that logs a request with its token (at debug level, say) shows `***` instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from bot.settings import Settings

MASK = "***"
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<password>[^@\s/]*)@"
)
# Settings whose values are secrets; the database password comes from its URL.
SECRET_SETTINGS = (
    "slack_bot_token",
    "slack_signing_secret",
    "slack_app_token",
    "mattermost_token",
    "mattermost_command_token",
    "alerts_token",
)
MIN_SECRET = 4  # shorter values would mask ordinary words


def mask_url(text: str) -> str:
    """Every `scheme://user:password@` in text with the password masked."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{MASK}@", text)


def url_password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        match = _URL_PASSWORD.search(url)
        return match.group("password") if match else None


def secrets_of(settings: Settings) -> list[str]:
    values = [getattr(settings, name, None) for name in SECRET_SETTINGS]
    values.append(url_password(settings.database_url))
    return [v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET]


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = mask_url(text)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message and traceback before any handler writes it."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("warroom-redact")
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def install(secrets: Iterable[str]) -> RedactingFilter:
    """Mask `secrets` in everything the root logger's handlers write (added once per handler;
    a newer install replaces an older one)."""
    log_filter = RedactingFilter(Redactor(secrets))
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(log_filter)
    return log_filter
