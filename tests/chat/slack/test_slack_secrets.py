"""A scan of everything the Slack side logs and answers for the configured secrets, through
refusals, failures and ordinary commands, with debug logging on."""

from __future__ import annotations

import logging
import urllib.parse

import pytest
from conftest import SIGNING_SECRET, SlackBot, sign
from slack_peer import BOT_TOKEN


async def test_no_log_line_or_reply_shows_a_secret(
    bot: SlackBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = []
    form = urllib.parse.urlencode({"command": "/incident", "text": "list"})
    wrong = sign(form, secret="not-the-secret")
    answers.append(await bot.post(form, "application/x-www-form-urlencoded", wrong))
    answers.append(await bot.post("payload=%7Bx", "application/x-www-form-urlencoded"))
    answers.append(await bot.command("declare sev2 Checkout down"))
    await bot.settle()
    bot.peer.fail("chat.postMessage", status=500, times=10)
    answers.append(await bot.command("status still down"))  # outside: a usage error
    await bot.settle()
    texts = [a.text for a in answers] + [str(r) for r in bot.peer.responses]
    texts += [str(c) for c in bot.peer.calls_to("chat.postMessage")]
    scanned = caplog.text + "\n".join(texts)
    assert caplog.records  # something was logged at all
    for secret in (SIGNING_SECRET, BOT_TOKEN):
        assert secret not in scanned, secret
