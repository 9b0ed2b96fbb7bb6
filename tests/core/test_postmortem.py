"""Postmortem export: golden files pin the format, built from a fixed scenario through the real
IncidentService, MemoryStore and ConsoleChat. Regenerate after an intended format change with
WARROOM_REGENERATE_GOLDEN=1 pytest tests/core/test_postmortem.py, and review the diff."""

from __future__ import annotations

import os

import pytest
from postmortem_scenario import CHANNEL, GOLDEN, Scenario, resolved_incident

from bot.chat.console.chat import ConsoleChat
from bot.core.model import EventKind
from bot.core.ports import UploadNotAllowed
from bot.core.postmortem import PostmortemTemplateError, render_postmortem
from bot.core.postmortem.split import MESSAGE_LIMIT, split_message

REGENERATE = os.environ.get("WARROOM_REGENERATE_GOLDEN") == "1"


async def open_incident() -> Scenario:
    s = Scenario()
    await s.run("dave", "declare Search is slow", "general")
    s.clock.advance(minutes=45, seconds=30)
    return s


async def render(s: Scenario, template: str | None = None) -> str:
    return render_postmortem(await s.service.record(1), s.clock.now(), template)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with WARROOM_REGENERATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


async def test_resolved_incident_matches_golden_file() -> None:
    check_golden("postmortem_resolved.md", await render(await resolved_incident()))


async def test_open_incident_matches_golden_file() -> None:
    check_golden("postmortem_open.md", await render(await open_incident()))


async def test_deleted_messages_are_left_out_and_edits_show_current_text() -> None:
    markdown = await render(await resolved_incident())
    assert "wrong channel" not in markdown
    assert "rolling back now" in markdown and "_(edited)_" in markdown
    assert "Postmortem exported" not in markdown


async def test_nothing_in_the_document_can_ping_or_break_it() -> None:
    markdown = await render(await resolved_incident())
    for ping in ("<!here>", "<!channel>", "<!--"):
        assert ping not in markdown
    for word in ("@here", "@channel"):
        assert markdown.count(word) == markdown.count(f"`{word}`")
    assert "@carol's service" in markdown  # a user mention stays readable
    rows = [line for line in markdown.splitlines() if line.startswith("| 2026-")]
    # Every timeline/history row keeps its column count: escaped pipes do not split cells.
    for row in rows:
        assert row.replace("\\|", "").count("|") in (5, 6), row


async def test_followups_come_in_order_with_their_authors() -> None:
    s = await resolved_incident()
    reply = await s.run("carol", "followup Write the customer letter")
    assert reply == "Follow-up 3 added to the INC-1 postmortem: Write the customer letter"
    record = await s.service.record(1)
    followups = [e for e in record.timeline if e.kind is EventKind.FOLLOWUP]
    assert [e.actor for e in followups] == ["alice", "bob", "carol"]
    assert "- [ ] Write the customer letter (@carol," in await render(s)


async def test_followup_needs_text_and_an_incident_channel() -> None:
    s = await resolved_incident()
    assert (await s.run("alice", "followup")).startswith("Missing the follow-up action's text.")
    assert "works inside an incident channel" in await s.run("alice", "followup x", "general")


async def test_a_playbook_template_gets_the_documented_context() -> None:
    s = await resolved_incident()
    template = (
        "# {{ ref }} ({{ peak_severity }}) {{ title | inline }}\n"
        "TTA {{ tta }} TTR {{ ttr }} by {{ commander }}\n"
        "{% for e in highlights %}* {{ e.text }}\n{% endfor %}"
        "{% for f in followups %}{{ f.number }}. {{ f.text | cell }}\n{% endfor %}"
        "{{ timeline[2].text }}\n"
        "playbook {{ playbook.name }} {{ playbook.version }}\n"
    )
    assert await render(s, template) == (
        "# INC-1 (sev1) Checkout | payments failing\n"
        "TTA 3m 00s TTR 30m 00s by alice\n"
        "* found it: bad deploy 2026.03.02-1 | roll back?\n"
        "1. Add a canary stage to checkout deploys\n"
        "2. Alert when payment 5xx \\| ratio > 2%\n"
        "I see 500s from @carol's service, `@here` have a look\n"
        "playbook payments 9f2c1e7d3b4a\n"
    )


async def test_template_errors_name_the_line() -> None:
    s = await open_incident()
    with pytest.raises(PostmortemTemplateError, match="line 2"):
        await render(s, "ok\n{% for x in %}\n")
    with pytest.raises(PostmortemTemplateError, match=r"line 2.*no_such_name"):
        await render(s, "ok\n{{ no_such_name }}\n")


async def test_templates_are_sandboxed() -> None:
    s = await open_incident()
    with pytest.raises(PostmortemTemplateError):
        await render(s, "{{ incident.__class__.__mro__ }}")


async def test_postmortem_command_uploads_the_file_and_records_the_export() -> None:
    s = await resolved_incident()
    assert await s.run("alice", "postmortem") == ""
    channel, filename, content = s.chat.uploads[-1]
    assert (channel, filename) == (CHANNEL, "inc-1-postmortem.md")
    assert content.decode().startswith("# INC-1: Checkout | payments failing\n")
    last = (await s.service.record(1)).timeline[-1]
    assert last.kind is EventKind.POSTMORTEM_EXPORTED and last.actor == "alice"
    assert last.data == {"where": "chat upload"}


class NoUploads(ConsoleChat):
    """A platform where the bot may not upload files (missing scope, uploads disabled)."""

    async def upload(self, channel_id: str, filename: str, content: bytes, title: str) -> None:
        raise UploadNotAllowed("files:write missing")


async def test_postmortem_falls_back_to_a_message_when_uploads_are_refused() -> None:
    s = await resolved_incident()
    s.chat = NoUploads(write=lambda line: None)
    s.service.chats = {"console": s.chat}  # type: ignore[assignment]
    assert await s.run("alice", "postmortem") == ""
    assert s.chat.uploads == []
    channel, text = s.chat.posts[-1]
    assert channel == CHANNEL and text.startswith("# INC-1: Checkout | payments failing")
    last = (await s.service.record(1)).timeline[-1]
    assert last.kind is EventKind.POSTMORTEM_EXPORTED and last.data == {"where": "chat message"}


async def test_a_long_postmortem_falls_back_to_several_messages() -> None:
    s = await resolved_incident()
    for i in range(400):
        await s.say("bob", f"line {i} " + "x" * 60, f"long-{i}")
    s.chat = NoUploads(write=lambda line: None)
    s.service.chats = {"console": s.chat}  # type: ignore[assignment]
    before = len(s.chat.posts)
    await s.run("alice", "postmortem")
    pieces = [text for _, text in s.chat.posts[before:]]
    assert len(pieces) > 1 and all(len(p) <= MESSAGE_LIMIT for p in pieces)
    whole = "\n".join(pieces)
    assert whole.count("| Message | @bob | line ") == 400  # no row cut in two
    assert whole.endswith("_Exported by warroom on 2026-03-02 09:31:00 UTC._")


def test_split_message_cuts_at_line_ends_and_splits_huge_lines() -> None:
    assert split_message("a\nb\nc", limit=4) == ["a\nb", "c"]
    assert split_message("abcdefg", limit=3) == ["abc", "def", "g"]
    assert split_message("") == [""]
