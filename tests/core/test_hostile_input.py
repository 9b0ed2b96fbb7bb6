"""Hostile or careless text: control characters never reach storage, long texts are refused in
one line; the same on every Store (memory, SQLite, Postgres)."""

from __future__ import annotations

import re

import pytest

from bot.chat.console.chat import ConsoleChat
from bot.core import sanitize
from bot.core.clock import ManualClock
from bot.core.model import Invocation
from bot.core.postmortem import render_postmortem
from bot.core.router import Router
from bot.core.service import IncidentService

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
NASTY = "a\x00b\x1b[31mred\x07\x08\x7f\x9b\ud800c"


async def test_control_characters_are_removed_before_storage(store: object) -> None:
    lines: list[str] = []
    chat = ConsoleChat(lines.append)
    clock = ManualClock()
    service = IncidentService(store, {"console": chat}, clock)  # type: ignore[arg-type]
    router = Router(service)

    async def run(text: str, channel: str = "general") -> str:
        return (await router.handle(Invocation("alice", "console", channel), text)).text

    assert (await run(f"declare sev2 DB {NASTY} down")).startswith("INC-1 declared")
    incident = await service.get(1)
    assert incident.title == "DB ab[31mredc down"
    channel = incident.channel_id or ""
    for text in (f"status {NASTY}\nsecond line", f"note {NASTY}", f"task add {NASTY}"):
        reply = await run(text, channel)
        assert "went wrong" not in reply, reply
    await run(f"followup {NASTY}", channel)
    await run(f"resolve {NASTY}", channel)
    await service.record_message("console", channel, "bob", f"said {NASTY}", source_key="m1")
    await service.edit_message("m1", f"edited {NASTY}")

    record = await service.record(1)
    texts = [e.text for e in record.timeline] + [u.text for u in record.status_updates]
    texts += [t.title for t in record.tasks]
    assert texts and not [t for t in texts if CONTROL.search(t) or "\ud800" in t]
    assert record.status_updates[0].text == "ab[31mredc\nsecond line"  # line breaks stay
    markdown = render_postmortem(record, clock.now())
    assert not CONTROL.search(markdown.replace("\n", ""))
    assert not [line for line in lines if CONTROL.search(line)]


@pytest.mark.parametrize(
    ("command", "what", "limit"),
    [
        ("declare {}", "title", 200),
        ("status {}", "status update", 3000),
        ("note {}", "note", 3000),
        ("task add {}", "task title", 200),
        ("followup {}", "follow-up", 1000),
    ],
)
async def test_texts_over_their_limit_are_refused_in_one_line(
    command: str, what: str, limit: int
) -> None:
    from bot.store.memory import MemoryStore

    store = MemoryStore()
    service = IncidentService(store, {"console": ConsoleChat(lambda line: None)}, ManualClock())
    router = Router(service)
    channel = "general"
    if not command.startswith("declare"):
        await router.handle(Invocation("alice", "console", "general"), "declare DB down")
        channel = "inc-1-db-down"
    events = len(await store.timeline(1))
    text = command.format("x" * (limit + 1))
    reply = await router.handle(Invocation("alice", "console", channel), text)
    assert reply.text == f"The {what} is too long ({limit + 1} characters; at most {limit}): " + (
        "shorten it."
    )
    assert len(await store.timeline(1)) == events
    # Exactly at the limit is fine.
    ok = await router.handle(Invocation("alice", "console", channel), command.format("x" * limit))
    assert "too long" not in ok.text


def test_a_title_of_only_control_characters_is_refused() -> None:
    with pytest.raises(sanitize.UsageError, match="empty once control characters are removed"):
        sanitize.checked("title", "\x00\x07", multiline=False)


def test_one_line_texts_lose_their_line_breaks() -> None:
    assert sanitize.clean("a\r\nb\tc\rd", multiline=False) == "a b c d"
    assert sanitize.clean("a\r\nb\tc\rd") == "a\nb\tc\nd"
