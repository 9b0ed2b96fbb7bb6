"""Hostile requests to /slack/events: 413, 401 or 400 with one log line, never a 500 or a
traceback, and nothing recorded."""

from __future__ import annotations

import logging
import urllib.parse

import pytest
from conftest import SlackBot, sign

TOO_BIG = 1024 * 1024 + 1


def one_line_no_traceback(caplog: pytest.LogCaptureFixture) -> str:
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1, [r.getMessage() for r in records]
    (record,) = records
    assert record.exc_info is None and "Traceback" not in caplog.text
    return record.getMessage()


async def test_unsigned_malformed_payload_is_401(
    bot: SlackBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = "payload=%7Bnot-json"
    response = await bot.post(body, "application/x-www-form-urlencoded", headers={})
    assert response.status_code == 401
    assert "bad or missing signature" in one_line_no_traceback(caplog)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
        ("payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
    ],
)
async def test_signed_malformed_body_is_400(
    bot: SlackBot, caplog: pytest.LogCaptureFixture, body: str, content_type: str
) -> None:
    caplog.set_level(logging.INFO)
    response = await bot.post(body, content_type)
    assert response.status_code == 400
    assert "malformed body" in one_line_no_traceback(caplog)


async def test_signed_non_utf8_body_is_400(bot: SlackBot) -> None:
    body = b"text=\xff\xfe"
    headers = sign(body.decode("latin-1"))  # signed over the same bytes
    response = await bot.http.post(
        "/slack/events",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    assert response.status_code in (400, 401)


async def test_stale_signature_is_401(bot: SlackBot) -> None:
    form = urllib.parse.urlencode({"command": "/incident", "text": "list"})
    response = await bot.post(form, "application/x-www-form-urlencoded", sign(form, timestamp=1))
    assert response.status_code == 401


async def test_a_body_over_1_mib_is_413_before_it_is_read(
    bot: SlackBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = "text=" + "x" * TOO_BIG
    response = await bot.post(body, "application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert "over the 1048576-byte limit" in one_line_no_traceback(caplog)


async def test_a_chunked_body_over_1_mib_is_413(bot: SlackBot) -> None:
    async def chunks():
        for _ in range(20):
            yield b"x" * 65536

    response = await bot.http.post(
        "/slack/events", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert await bot.app.store.list_incidents() == []
