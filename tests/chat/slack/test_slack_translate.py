"""Pure translation, against payload shapes from Slack's documentation."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.chat.slack import translate as t
from bot.core.commands import ChangeTask, parse
from bot.core.model import Incident, Severity, State, Task, TaskState

# https://api.slack.com/interactivity/slash-commands: the form fields Slack posts.
SLASH = {
    "token": "gIkuvaNzQIHg97ATvDxqgjtO",
    "team_id": "T0001",
    "team_domain": "example",
    "enterprise_id": "E0001",
    "enterprise_name": "Globular Construct Inc",
    "channel_id": "C2147483705",
    "channel_name": "test",
    "user_id": "U2147483697",
    "user_name": "Steve",
    "command": "/incident",
    "text": "role commander <@U0BOB00002|bob>",
    "response_url": "https://hooks.slack.com/commands/1234/5678",
    "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    "api_app_id": "A123456",
}


def test_slash_command_to_invocation_and_text() -> None:
    ctx = t.invocation(SLASH)
    assert (ctx.user, ctx.platform, ctx.channel_id) == ("U2147483697", "slack", "C2147483705")
    text = t.command_text(SLASH["text"])
    assert text == "role commander @U0BOB00002"
    assert parse(text).user == "U0BOB00002"  # type: ignore[union-attr]


def test_command_text_undoes_slacks_escaping() -> None:
    # With should_escape (the manifest sets it) Slack sends the command text as it sends
    # message text: entities for & < >, and markup for users, channels, links, broadcasts.
    assert t.command_text("page <@W0123ABCD>") == "page @W0123ABCD"
    assert t.command_text("note see <#C0123|ops>  ") == "note see #ops"
    assert t.command_text("note see <#C0123>") == "note see #C0123"
    assert t.command_text("declare Checkout &amp; payments down") == (
        "declare Checkout & payments down"
    )
    assert t.command_text("note p99 &lt; 200ms &amp;&amp; errors &gt; 1%") == (
        "note p99 < 200ms && errors > 1%"
    )
    assert t.command_text("note literal &amp;lt; stays") == "note literal &lt; stays"
    assert t.command_text("note <https://status.example.com/a?b=1&amp;c=2|status page>") == (
        "note status page (https://status.example.com/a?b=1&c=2)"
    )
    assert t.command_text("note <https://grafana.example.com/d/x>") == (
        "note https://grafana.example.com/d/x"
    )
    assert t.command_text("note <mailto:dba@example.com|dba@example.com>") == (
        "note dba@example.com"
    )
    assert t.command_text("note <!here> and <!channel|channel>") == "note @here and @channel"
    assert t.command_text("page <!subteam^S0123ABC|@dba-oncall>") == "page @dba-oncall"
    assert t.command_text("role comms <@U0BOB00002|bob &amp; co>") == "role comms @U0BOB00002"


def test_message_text_is_stored_as_people_typed_it() -> None:
    event = {
        "type": "message",
        "channel": "C0INC00001",
        "user": "U0ALICE001",
        "text": "<@U0BOB00002|bob> rollback &amp; restart? p99 &lt; 1s, see <https://x.example|graph>",
        "ts": "1700000100.000200",
    }
    change = t.timeline_change(event)
    assert change == t.Posted(
        "C0INC00001",
        "U0ALICE001",
        "@bob rollback & restart? p99 < 1s, see graph (https://x.example)",
        "1700000100.000200",
    )
    # Message events name users by id only: kept as @U..., never as raw markup.
    bare = t.timeline_change(event | {"text": "thanks <@U0BOB00002>"})
    assert isinstance(bare, t.Posted) and bare.text == "thanks @U0BOB00002"


def test_message_changed_without_message_ts_falls_back_to_previous_message() -> None:
    # As in bolt-python's own message_changed fixtures: `message` carries no ts.
    event = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "message": {
            "type": "message",
            "text": "lag 4s &amp; falling",
            "user": "U0ALICE001",
            "edited": {"user": "U0ALICE001", "ts": "1700000210.000000"},
        },
        "channel": "C0INC00001",
        "previous_message": {
            "type": "message",
            "text": "lag 40s",
            "user": "U0ALICE001",
            "ts": "1700000200.000100",
        },
        "event_ts": "1700000210.000200",
        "ts": "1700000210.000200",
        "channel_type": "channel",
    }
    assert t.timeline_change(event) == t.Edited(
        "slack:C0INC00001:1700000200.000100", "lag 4s & falling"
    )


def test_outgoing_user_ids_become_mentions_and_words_do_not() -> None:
    text = "Commander: @U0ALICE001. Severity changed by U0BOB00002. UPSTREAMS and USERNAME ok"
    assert t.mention_users(text) == (
        "Commander: <@U0ALICE001>. Severity changed by <@U0BOB00002>. UPSTREAMS and USERNAME ok"
    )
    assert t.mention_users("already <@U0ALICE001>") == "already <@U0ALICE001>"


def test_declare_modal_round_trips_through_a_submission() -> None:
    modal = t.declare_modal("C2147483705")
    assert [b["block_id"] for b in modal["blocks"]] == [
        "title",
        "severity",
        "service",
        "private",
        "description",
    ]
    assert len(modal["title"]["text"]) <= 24  # Slack's limit for a modal title
    view = {
        "id": "V1",
        "private_metadata": modal["private_metadata"],
        "state": {
            "values": {
                "title": {"title": {"type": "plain_text_input", "value": "  API down "}},
                "severity": {"severity": {"selected_option": {"value": "sev1"}}},
                "service": {"service": {"value": None}},
                "private": {"private": {"selected_options": [{"value": "private"}]}},
                "description": {"description": {"value": ""}},
            }
        },
    }
    assert t.form_errors(view) == {}
    form = t.declare_from_view(view)
    assert form.channel_id == "C2147483705"
    assert form.command.title == "API down"
    assert form.command.severity is Severity.SEV1
    assert form.command.private is True
    assert form.command.service is None and form.command.description is None


def test_blank_form_title_is_an_error() -> None:
    view = {"state": {"values": {"title": {"title": {"value": " "}}}}}
    assert set(t.form_errors(view)) == {"title"}


def test_task_buttons() -> None:
    assert t.task_change({"action_id": "task_done", "value": "3"}) == ChangeTask("done", "3")
    assert t.task_change({"action_id": "task_undo", "value": "1"}) == ChangeTask("undo", "1")
    assert t.task_change({"action_id": "task_burn", "value": "1"}) is None
    assert t.task_change({"action_id": "task_done", "value": "x"}) is None


def _incident() -> Incident:
    return Incident(
        1,
        "DB down",
        Severity.SEV2,
        State.INVESTIGATING,
        datetime(2026, 1, 1, tzinfo=UTC),
        "U0ALICE001",
        "slack",
    )


def test_checklist_blocks_stay_under_slacks_block_limit() -> None:
    tasks = [Task(1, "c", n, f"step {n}") for n in range(1, 61)]
    tasks[0].state = TaskState.DONE
    tasks[1].assignee = "U0BOB00002"
    blocks = t.checklist_blocks(_incident(), tasks)
    assert len(blocks) <= 50
    assert "more" in blocks[-1]["text"]["text"]
    assert blocks[1]["accessory"]["action_id"] == "task_undo"
    assert "<@U0BOB00002>" in blocks[2]["text"]["text"]
    block_ids = [b.get("block_id") for b in blocks if b.get("block_id")]
    assert len(block_ids) == len(set(block_ids))  # Slack rejects duplicate block ids


def test_message_events() -> None:
    posted = t.timeline_change(
        {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1.2"}
    )
    assert posted == t.Posted("C1", "U1", "hi", "1.2")
    assert t.channel_of(posted) == "C1"
    share = {
        "type": "message",
        "subtype": "file_share",
        "channel": "C1",
        "user": "U1",
        "text": "graph",
        "ts": "1.3",
    }
    assert isinstance(t.timeline_change(share), t.Posted)
    for ignored in (
        {"type": "message", "subtype": "channel_join", "channel": "C1", "user": "U1", "ts": "1"},
        {"type": "message", "subtype": "bot_message", "channel": "C1", "bot_id": "B1", "ts": "1"},
        {"type": "message", "channel": "C1", "user": "U1", "bot_id": "B1", "ts": "1"},
        {
            "type": "reaction_added",
            "reaction": "eyes",
            "user": "U1",
            "item": {"type": "message", "channel": "C1", "ts": "1"},
        },
        {
            "type": "reaction_added",
            "reaction": "pushpin",
            "user": "U1",
            "item": {"type": "file", "file": "F1"},
        },
    ):
        assert t.timeline_change(ignored) is None


def test_edit_delete_and_highlight_name_the_original_message() -> None:
    edited = t.timeline_change(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": "C1",
            "message": {"user": "U1", "text": "new", "ts": "5.0"},
            "ts": "6",
        }
    )
    assert edited == t.Edited("slack:C1:5.0", "new")
    assert t.channel_of(edited) == "C1"
    deleted = t.timeline_change(
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": "C1",
            "deleted_ts": "5.0",
            "ts": "7",
        }
    )
    assert deleted == t.Deleted("slack:C1:5.0")
    pinned = t.timeline_change(
        {
            "type": "pin_added",
            "user": "U2",
            "channel_id": "C1",
            "item": {"type": "message", "message": {"ts": "5.0"}},
        }
    )
    assert pinned == t.Highlighted("slack:C1:5.0", "U2")


def test_ts_to_datetime_is_utc() -> None:
    assert t.ts_to_datetime("1700000000.000100").tzinfo is UTC
