"""Hostile requests to /mattermost/*: 413, 401 or 400 with one log line, never a 500 (a slash
command with a wrong token is refused in a 200, which is all Mattermost shows the user)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from mattermost_bot import Bot, running_bot
from mattermost_peer import MattermostPeer, running_peer


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as peer:
        peer.add_user("alice")
        yield peer


@pytest.fixture
async def bot(peer: MattermostPeer, sqlite_url: str) -> AsyncIterator[Bot]:
    async with running_bot(peer, sqlite_url) as bot:
        yield bot


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_an_unauthenticated_body_over_1_mib_is_413(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    response = await bot.http.post(
        "/mattermost/command",
        content=b"token=x&text=" + b"a" * (1024 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    (record,) = warnings(caplog)
    assert record.exc_info is None and "limit" in record.getMessage()


@pytest.mark.parametrize("route", ["/mattermost/actions", "/mattermost/dialog"])
@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1]", b"\xff\xfe", b'"a string"'],
)
async def test_malformed_json_is_400(
    bot: Bot, caplog: pytest.LogCaptureFixture, route: str, body: bytes
) -> None:
    response = await bot.http.post(route, content=body)
    assert response.status_code == 400
    (record,) = warnings(caplog)
    assert record.exc_info is None and "malformed" in record.getMessage()


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/mattermost/actions", {"context": "not a dict"}),
        ("/mattermost/actions", {"context": {"incident": [], "position": {}, "sig": 1}}),
        ("/mattermost/actions", {"context": {"incident": 1, "position": 1, "action": "done"}}),
        ("/mattermost/dialog", {"state": "x.y", "submission": ["title"]}),
        ("/mattermost/dialog", {"state": 7, "callback_id": {"a": 1}, "submission": "x"}),
    ],
)
async def test_unsigned_shapes_are_401(
    bot: Bot, caplog: pytest.LogCaptureFixture, route: str, body: dict
) -> None:
    response = await bot.http.post(route, content=json.dumps(body))
    assert response.status_code == 401
    (record,) = warnings(caplog)
    assert record.exc_info is None and "not signed" in record.getMessage()
    assert await bot.app.store.list_incidents() == []


async def test_a_wrong_command_token_is_refused_with_one_log_line(
    bot: Bot, peer: MattermostPeer, caplog: pytest.LogCaptureFixture
) -> None:
    square = str(peer.channel("town-square")["id"])
    response = await bot.command("alice", square, "declare x", token="guess")
    # 200 with the explanation: Mattermost drops the body of any other status (issue 11).
    assert response.status_code == 200 and response.json()["response_type"] == "ephemeral"
    assert await bot.app.store.list_incidents() == []
    (record,) = warnings(caplog)
    assert "wrong token" in record.getMessage() and "guess" not in caplog.text


async def test_a_command_form_of_garbage_is_answered_not_crashed(bot: Bot) -> None:
    response = await bot.http.post(
        "/mattermost/command",
        content=b"%%%\xff\x00&&==&token",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200  # refused as a wrong token, said in a 200
    assert response.json()["response_type"] == "ephemeral"
    assert await bot.app.store.list_incidents() == []
