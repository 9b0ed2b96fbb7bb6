"""Outbound Slack text: nothing people wrote pings a crowd; mentions the bot builds render."""

from __future__ import annotations

import re

from conftest import ALICE, ANNOUNCE, SlackBot
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import SectionBlock

from bot.chat.slack import translate
from bot.chat.slack.text import escape
from bot.core.model import Incident, Severity, State, Task
from bot.core.sanitize import LIMITS

BROADCASTS = ["<!channel>", "<!here>", "<!everyone>", "<!subteam^S0ALL|everyone>"]
user_ids = st.from_regex(r"\AU[A-Z0-9]{8,10}\Z").filter(lambda u: any(c.isdigit() for c in u))
TOKENS = ["<", ">", "&", "!", "@", "^", "|", "#", "here", "channel", "U0ALICE001", "C0CHAN001"]
pieces = st.lists(
    st.one_of(
        st.sampled_from(TOKENS + BROADCASTS + ["<@U0ALICE001>", "<#C0CHAN001>", "&lt;"]),
        st.text(max_size=5),
    ),
    max_size=12,
).map("".join)
# What Slack reads as markup after escaping: only <@U...> and <#C...>, never <!...>.
MARKUP = re.compile(r"<([^<>]*)>")


@given(pieces)
def test_nothing_but_user_mentions_and_channel_links_survive_as_markup(text: str) -> None:
    out = translate.outgoing(text)
    assert "<!" not in out
    for inner in MARKUP.findall(out):
        assert re.fullmatch(r"@[UW][A-Z0-9]+|#[CG][A-Z0-9]+(\|[a-z0-9_\-]*)?", inner), out


@given(pieces)
def test_escaping_loses_nothing(text: str) -> None:
    # Slack shows &amp; &lt; &gt; as & < >: the reader sees exactly what was written.
    entities = {"amp": "&", "lt": "<", "gt": ">"}
    assert re.sub(r"&(amp|lt|gt);", lambda m: entities[m.group(1)], escape(text)) == text


@given(user_ids, pieces)
def test_a_user_mention_the_bot_builds_still_renders(user: str, text: str) -> None:
    out = translate.outgoing(f"{text} (assigned by @{user})")
    assert out.endswith(f"(assigned by <@{user}>)")


@given(st.text(st.sampled_from("&<>!x"), min_size=1, max_size=LIMITS["task title"]))
def test_an_escaped_task_title_always_fits_a_section(title: str) -> None:
    incident = Incident(1, "t", Severity.SEV2, State.INVESTIGATING, _now(), ALICE, "slack")
    task = Task(1, "added", 99, title, assignee="U0ASSIGNEE1")
    for block in translate.checklist_blocks(incident, [task]):
        if block["type"] == "section":
            SectionBlock(**{k: v for k, v in block.items() if k != "type"}).validate_json()
            assert len(block["text"]["text"]) <= 3000


def _now():
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


async def test_relayed_broadcasts_do_not_ping(bot: SlackBot) -> None:
    hostile = " ".join(BROADCASTS)
    await bot.command(f"declare sev2 Payments {hostile} down")
    await bot.settle()
    channel = bot.peer.calls_to("conversations.create")[-1]["name"]
    channel_id = bot.peer.channel_named(channel)["id"]
    await bot.command(f"status Still down {hostile} &", channel=channel_id)
    await bot.command(f"task add Page {hostile}", channel=channel_id)
    await bot.command(f"note {hostile}", channel=channel_id)
    await bot.settle()
    sent = [c["text"] for c in bot.peer.calls_to("chat.postMessage")]
    sent += [c["text"] for c in bot.peer.calls_to("chat.update")]
    sent += [c["topic"] for c in bot.peer.calls_to("conversations.setTopic")]
    sent += [r["text"] for r in bot.peer.responses]
    assert any(ANNOUNCE == c["channel"] for c in bot.peer.calls_to("chat.postMessage"))
    assert sent and not [text for text in sent if "<!" in text]
    # Slack's <!channel> markup arrives decoded as @channel (incoming.py) and goes out as
    # plain text, which Slack does not turn into a broadcast.
    assert any("@channel" in text and "@here" in text for text in sent)
    # The bot's own mention of the commander and link to the channel still render.
    assert any(f"<@{ALICE}>" in text for text in sent)
    assert any(f"<#{channel_id}>" in text for text in sent)
