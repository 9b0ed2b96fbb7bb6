"""Every Block Kit message and modal warroom builds, checked with slack_sdk's own models
(`Block.parse(...).validate_json()`, `View(...).validate_json()`) at every length limit: a
section's 3,000 characters, a message's 50 blocks and 40,000 characters of text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from slack_peer import MAX_BLOCKS, SlackPeer, block_problems, make_slack_chat, view_problems
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.chat.slack import translate as t
from bot.core.model import Incident, Severity, State, Task, TaskState

TITLE_LENGTHS = [1, 80, 2990, 2997, 2998, 2999, 3000, 3001, 10_000]
ASSIGNEES = [None, "U0ALICE001", "a-very-long-role-holder-name-" * 4]
COUNTS = [0, 1, 23, 24, 25, 46, 47, 48, 49, 50, 100, 500]


def incident(number: int = 7) -> Incident:
    return Incident(
        number,
        "DB down",
        Severity.SEV2,
        State.INVESTIGATING,
        datetime(2026, 1, 1, tzinfo=UTC),
        "U0ALICE001",
        "slack",
    )


def task(position: int, title: str, state: TaskState, assignee: str | None = None) -> Task:
    return Task(7, "triage", position, title, state, assignee=assignee)


def valid_with_slack_sdk(blocks: list[dict]) -> None:
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()  # raises SlackObjectFormationError past a limit
        assert parsed.to_dict() == block  # nothing the model does not know
    assert block_problems(blocks) == []


@pytest.mark.parametrize("length", TITLE_LENGTHS)
@pytest.mark.parametrize("state", list(TaskState))
@pytest.mark.parametrize("assignee", ASSIGNEES)
def test_a_task_title_at_any_length_keeps_the_checklist_valid(
    length: int, state: TaskState, assignee: str | None
) -> None:
    title = ("x" * (length - 1) + "!") if length > 1 else "!"
    tasks = [task(1, "Page the DBA", TaskState.OPEN), task(2, title, state, assignee)]
    blocks = t.checklist_blocks(incident(), tasks)
    valid_with_slack_sdk(blocks)
    line = blocks[-1] if state is not TaskState.OPEN else blocks[-2]
    shown = line["text"]["text"]
    assert len(shown) <= t.MAX_SECTION_TEXT
    # Shown whole, or cut with an ellipsis only where it had to be.
    assert title in shown or (t.ELLIPSIS in shown and len(shown) >= t.MAX_SECTION_TEXT - 2)
    if len(title) <= 2900:
        assert title in shown


@pytest.mark.parametrize("count", COUNTS)
def test_any_number_of_tasks_fits_in_one_message(count: int) -> None:
    states = list(TaskState)
    tasks = [task(n, f"Task {n}", states[n % 3]) for n in range(1, count + 1)]
    blocks = t.checklist_blocks(incident(99_999), tasks)
    valid_with_slack_sdk(blocks)
    if count > 30:
        assert "more" in blocks[-1]["text"]["text"]  # the overflow line
    assert len(t.checklist_text(incident(), tasks)) <= t.MAX_FALLBACK_TEXT


def test_many_long_tasks_keep_the_fallback_text_and_blocks_within_limits() -> None:
    tasks = [task(n, "y" * 5000, TaskState.OPEN) for n in range(1, 101)]
    blocks = t.checklist_blocks(incident(), tasks)
    valid_with_slack_sdk(blocks)
    assert len(t.checklist_text(incident(), tasks)) <= t.MAX_FALLBACK_TEXT


@pytest.mark.parametrize("channel", [None, "C0GENERAL1", "D" + "0" * 20])
def test_the_declare_modal_is_a_valid_view(channel: str | None) -> None:
    modal = t.declare_modal(channel)
    parsed = View(**modal)
    parsed.validate_json()
    assert parsed.to_dict() == modal
    assert view_problems(modal) == []
    title = modal["blocks"][0]["element"]
    assert title["max_length"] <= 3000  # plain_text_input's own ceiling


def test_a_declare_form_at_its_length_limit_declares() -> None:
    modal = t.declare_modal("C0GENERAL1")
    limit = modal["blocks"][0]["element"]["max_length"]
    view = {
        "id": "V1",
        "private_metadata": modal["private_metadata"],
        "state": {
            "values": {
                "title": {"title": {"type": "plain_text_input", "value": "t" * limit}},
                "severity": {"severity": {"selected_option": {"value": "sev2"}}},
                "service": {"service": {"value": "s" * 3000}},
                "private": {"private": {"selected_options": []}},
                "description": {"description": {"value": "d" * 3000}},
            }
        },
    }
    assert t.form_errors(view) == {}
    form = t.declare_from_view(view)
    assert form.command.title == "t" * limit
    assert form.command.description == "d" * 3000


@pytest.mark.parametrize("length", [1, 39_999, 40_000, 40_001, 100_000])
def test_long_text_is_split_into_messages_slack_accepts(length: int) -> None:
    text = ("line\n" * (length // 5 + 1))[:length]
    parts = t.split_message(text)
    assert all(len(part) <= t.MAX_MESSAGE_TEXT for part in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


async def test_the_peer_refuses_what_slack_refuses(peer: SlackPeer) -> None:
    # The peer checks blocks with the same models: an over-long section is invalid_blocks,
    # so the adapter tests below would fail on a checklist that Slack would refuse.
    chat = make_slack_chat(peer)
    channel = peer.add_channel("inc-7-db-down", members=("U0BOT00001",))
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "z" * 3001}}]
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        await chat.call("chat.postMessage", channel=channel, text="x", blocks=too_long)
    with pytest.raises(SlackApiError, match="msg_too_long"):
        await chat.call("chat.postMessage", channel=channel, text="x" * 40_001)


async def test_a_checklist_with_a_huge_task_title_is_posted_and_updated(peer: SlackPeer) -> None:
    chat = make_slack_chat(peer)
    channel = peer.add_channel("inc-7-db-down", members=("U0BOT00001",))
    tasks = [task(1, "Page the DBA", TaskState.OPEN), task(2, "q" * 5000, TaskState.OPEN)]
    ts = await chat.post_checklist(channel, incident(), tasks)
    tasks[1] = task(2, "q" * 5000, TaskState.DONE)
    await chat.update_checklist(channel, ts, incident(), tasks)
    message = peer.messages[(channel, ts)]
    assert message.edits == 1 and message.blocks is not None
    assert block_problems(message.blocks) == []


async def test_a_postmortem_posted_as_text_arrives_in_messages_slack_accepts(
    peer: SlackPeer,
) -> None:
    chat = make_slack_chat(peer)
    channel = peer.add_channel("inc-7-db-down", members=("U0BOT00001",))
    markdown = "\n".join(f"| 10:{n % 60:02d} | event {n} |" for n in range(4000))
    first = await chat.post(channel, markdown)
    posted = peer.texts(channel)
    assert len(posted) >= 2 and all(len(text) <= 40_000 for text in posted)
    assert peer.messages[(channel, first)].text == posted[0]
