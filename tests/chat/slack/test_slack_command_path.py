"""`/incident` slash commands skip Bolt's dispatch once Bolt has authorized one (the platform
runs the command's listener itself): the answers, bodies and content types are Bolt's, and
what Bolt must see (the first command, `ssl_check`, interactivity) still reaches it."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
from conftest import GENERAL, SlackBot

from bot.core import messages

# Each answered a different way: in the ack as text (help, a usage error, a read), an empty
# ack with the answer at the response_url (a change outside an incident channel), the form.
COMMANDS = ["help", "frobnicate now", "list", "status Rolled back", "list all"]


def seen_by_bolt(bot: SlackBot) -> list[str]:
    seen: list[str] = []

    async def recorder(body, next):  # type: ignore[no-untyped-def]  # Bolt's middleware
        seen.append(body.get("command") or body.get("type") or "ssl_check")
        return await next()

    bot.platform.bolt.use(recorder)
    return seen


def answered(response: httpx.Response) -> tuple[int, str, str]:
    return response.status_code, response.headers.get("content-type", ""), response.text


async def test_commands_after_the_first_skip_bolt_and_are_answered_as_bolt_answers(
    bot: SlackBot,
) -> None:
    seen = seen_by_bolt(bot)
    through_bolt: list[tuple[int, str, str]] = []
    for text in COMMANDS:  # every one through Bolt: as if none had been authorized yet
        bot.platform.listeners.commands_authorized = False
        through_bolt.append(answered(await bot.command(text)))
        await bot.settle()
    assert seen == ["/incident"] * len(COMMANDS)
    bolt_answers = list(bot.peer.responses)

    seen.clear()
    bot.peer.responses.clear()
    fast = []
    for text in COMMANDS:
        fast.append(answered(await bot.command(text)))
        await bot.settle()
    assert seen == []  # Bolt had authorized a command: none of these went through it
    assert fast == through_bolt
    assert [r["text"] for r in bot.peer.responses] == [r["text"] for r in bolt_answers]
    # (A JSON answer for the ephemeral ones, an empty text/plain ack for the change.)
    assert {content for _, content, _ in fast} == {
        "application/json;charset=utf-8",
        "text/plain;charset=utf-8",
    }


async def test_what_is_not_a_command_still_goes_through_bolt(bot: SlackBot) -> None:
    await bot.command("help")  # Bolt authorizes the first command
    seen = seen_by_bolt(bot)
    check = urllib.parse.urlencode({"ssl_check": "1", "token": "x", "command": "/incident"})
    response = await bot.post(check, "application/x-www-form-urlencoded")
    assert response.status_code == 200
    # A command whose text holds the word Bolt looks for in interactivity bodies is read as
    # a command (Bolt reads the form as an empty interaction and answers 404).
    bot.platform.listeners.commands_authorized = False
    assert (await bot.command("list the payload service")).status_code == 404
    bot.platform.listeners.commands_authorized = True
    response = await bot.command("note the payload service is down", channel=GENERAL)
    assert response.status_code == 200
    await bot.settle()
    assert bot.peer.responses[-1]["text"] == messages.not_in_incident_channel("note")
    other: dict[str, Any] = {"command": "/other", "text": "x", "team_id": "T1"}
    body = urllib.parse.urlencode(other)
    await bot.post(body, "application/x-www-form-urlencoded")  # (Bolt has no listener: 404)
    await bot.settle()
    assert seen == ["ssl_check", "/other"]  # (Bolt 404s its empty reading before any middleware)
