"""No configuration error, log line, health check or reply shows a configured secret."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.metrics import Metrics
from bot.redact import Redactor, install, mask_url
from bot.settings import SettingsError, load_settings
from bot.store.sql import SqlStore
from bot.web import build_web_app

PASSWORD = "S3cr3t-pw"
ROOT = Path(__file__).resolve().parents[1]


def test_a_bad_database_url_is_shown_without_its_password() -> None:
    url = f"postgres://warroom:{PASSWORD}@db.internal:5432/warroom"
    with pytest.raises(SettingsError) as error:
        load_settings(database_url=url, _env_file=None)
    message = str(error.value)
    assert PASSWORD not in message
    assert "postgres://warroom:***@db.internal:5432/warroom" in message
    assert "WARROOM_DATABASE_URL" in message


def test_the_cli_never_prints_the_password(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WARROOM_", "SLACK_", "MATTERMOST_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    outputs = []
    for url in (
        f"postgres://warroom:{PASSWORD}@db.internal:5432/warroom",
        # A well-formed URL to a server that is not there: the driver's error is shown.
        f"postgresql+asyncpg://warroom:{PASSWORD}@127.0.0.1:1/warroom",
    ):
        run = subprocess.run(
            [sys.executable, "-m", "bot", "db", "current"],
            env={**env, "WARROOM_DATABASE_URL": url},
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert run.returncode == 1
        outputs.append(run.stdout + run.stderr)
    assert all(PASSWORD not in out for out in outputs), outputs
    assert all("Traceback" not in out for out in outputs), outputs


async def test_healthz_says_what_is_unreachable_and_logs_the_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    store = SqlStore.from_url(f"postgresql+asyncpg://warroom:{PASSWORD}@127.0.0.1:1/warroom")
    web = build_web_app(store, Metrics())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://warroom.test"
        ) as http:
            response = await http.get("/healthz")
    finally:
        await store.close()
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "database": "unreachable"}
    (record,) = [r for r in caplog.records if "healthz" in r.getMessage()]
    assert "unreachable" in record.getMessage() and PASSWORD not in caplog.text


def test_the_log_filter_masks_configured_secrets_in_messages_and_tracebacks() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install(["xoxb-very-secret-token"])
        logger = logging.getLogger("some.library")
        logger.warning("calling with token=%s", "xoxb-very-secret-token")
        try:
            raise RuntimeError("auth failed for xoxb-very-secret-token")
        except RuntimeError:
            logger.exception("request to postgresql://u:pw1234@h/db failed")
    finally:
        root.removeHandler(handler)
    text = "\n".join(records)
    assert "xoxb-very-secret-token" not in text and "pw1234" not in text
    assert "token=***" in text and "postgresql://u:***@h/db" in text


def test_masking_urls() -> None:
    assert mask_url("a postgresql+asyncpg://me:p%40ss@h:5/d b") == (
        "a postgresql+asyncpg://me:***@h:5/d b"
    )
    assert mask_url("sqlite+aiosqlite:///warroom.db") == "sqlite+aiosqlite:///warroom.db"
    assert Redactor(["abc"])("abc") == "abc"  # too short to be a secret worth masking
