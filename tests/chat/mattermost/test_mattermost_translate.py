"""translate.py and events.py against payloads shaped as Mattermost sends them (server model
types and the websocket events of API v4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.chat.mattermost import events
from bot.chat.mattermost import translate as t
from bot.core.commands import Declare
from bot.core.model import Incident, Severity, State, Task, TaskState
from bot.core.router import Reply

KEY = b"k" * 32

SLASH_FORM = {
    "channel_id": "ziyh1dx1zbdc5p6pr5ir5ihgwe",
    "channel_name": "town-square",
    "command": "/incident",
    "response_url": "https://chat.example.com/hooks/commands/8w7foap4ufrsfczda8uez51yxo",
    "team_domain": "eng",
    "team_id": "rgpmxdnbc3nd5q5zybxtrw1ane",
    "text": "declare sev2 service:db DB down",
    "token": "xr3j5x3p4pfk7e9ydozpw8ckuh",
    "trigger_id": "YmZtaHo4OHA0N2Y4ZmZ4dHJ3OjFrM3c=",
    "user_id": "ae8sq6bnbpb1ujsbp3ogu9drrc",
    "user_name": "alice",
}

POST = {
    "id": "ih6oqtzn6pgw9ctm5dmcq4k5xe",
    "create_at": 1767268800000,
    "update_at": 1767268800000,
    "edit_at": 0,
    "delete_at": 0,
    "is_pinned": False,
    "user_id": "ae8sq6bnbpb1ujsbp3ogu9drrc",
    "channel_id": "ziyh1dx1zbdc5p6pr5ir5ihgwe",
    "root_id": "",
    "original_id": "",
    "message": "primary is down",
    "type": "",
    "props": {},
    "hashtags": "",
    "pending_post_id": "ae8sq6bnbpb1ujsbp3ogu9drrc:1767268799950",
}
BROADCAST = {"omit_users": None, "user_id": "", "channel_id": POST["channel_id"], "team_id": ""}


def frame(event: str, data: dict[str, object], seq: int = 3) -> str:
    return json.dumps({"event": event, "data": data, "broadcast": BROADCAST, "seq": seq})


def test_slash_command_form() -> None:
    command = t.slash_command(SLASH_FORM)
    assert command.text == "declare sev2 service:db DB down"
    assert (command.user_name, command.channel_id) == ("alice", "ziyh1dx1zbdc5p6pr5ir5ihgwe")
    assert command.trigger_id == SLASH_FORM["trigger_id"]


def test_command_response_types() -> None:
    assert t.command_response(Reply("hi", public=True)) == {
        "response_type": "in_channel",
        "text": "hi",
    }
    assert t.command_response(Reply("only you")) == {
        "response_type": "ephemeral",
        "text": "only you",
    }
    # Nothing to say: ephemeral with empty text, which Mattermost does not post.
    assert t.command_response(Reply("", public=True))["response_type"] == "ephemeral"


def test_a_long_answer_continues_in_extra_responses() -> None:
    postmortem = "\n".join(f"line {n:05d} " + "x" * 90 for n in range(400))  # ~40,000 chars
    answer = t.command_response(Reply(postmortem, public=True))
    parts = [answer["text"]] + [extra["text"] for extra in answer["extra_responses"]]
    assert all(len(part) <= 16383 for part in parts) and len(parts) == 3
    assert "\n".join(parts) == postmortem
    assert {extra["response_type"] for extra in answer["extra_responses"]} == {"in_channel"}
    assert t.split_message("a" * 10, limit=4) == ["aaaa", "aaaa", "aa"]


def test_tokens_match_in_constant_time_and_never_without_a_token() -> None:
    assert t.tokens_match("abc", "abc")
    assert not t.tokens_match("abd", "abc")
    assert not t.tokens_match("", None)
    assert not t.tokens_match("", "")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("inc-1-db-down", "inc-1-db-down"),
        ("inc-12-" + "a" * 73, "inc-12-" + "a" * 57),
        ("inc-12-" + "a" * 70 + "-2", "inc-12-" + "a" * 55 + "-2"),
        ("inc-12-" + "ab-" * 24 + "-17", "inc-12-" + ("ab-" * 24)[:54].rstrip("-") + "-17"),
    ],
)
def test_channel_names_fit_64(name: str, expected: str) -> None:
    url_name, display = t.channel_names(name)
    assert url_name == expected
    assert len(url_name) <= 64 and len(display) <= 64


def incident() -> Incident:
    return Incident(
        3,
        "DB down",
        Severity.SEV2,
        State.INVESTIGATING,
        datetime(2026, 1, 1, tzinfo=UTC),
        "alice",
        "mattermost",
    )


def test_checklist_buttons_carry_a_signed_context_and_a_button_press_is_read_back() -> None:
    tasks = [Task(3, "default", 1, "Page the DBA", TaskState.DONE), Task(3, "default", 2, "Fail")]
    props = t.checklist_props(incident(), tasks, "https://bot.example.com/mattermost/actions", KEY)
    first, second = props["attachments"]
    assert first["text"] == "1. [x] Page the DBA"
    assert [a["id"] for a in first["actions"]] == ["undo1"]
    assert [a["id"] for a in second["actions"]] == ["done2", "skip2"]
    # PostActionIntegrationRequest, as the server posts it to the integration URL.
    request = {
        "user_id": "ae8sq6bnbpb1ujsbp3ogu9drrc",
        "user_name": "bob",
        "channel_id": "ziyh1dx1zbdc5p6pr5ir5ihgwe",
        "channel_name": "inc-3-db-down",
        "team_id": "rgpmxdnbc3nd5q5zybxtrw1ane",
        "team_domain": "eng",
        "post_id": "ih6oqtzn6pgw9ctm5dmcq4k5xe",
        "trigger_id": "dHJpZ2dlcg==",
        "type": "button",
        "data_source": "",
        "context": second["actions"][1]["integration"]["context"],
    }
    press = t.button_press(request, KEY)
    assert press is not None
    assert (press.incident, press.position, press.action, press.user_name) == (3, 2, "skip", "bob")
    assert t.button_press(request, b"another key") is None
    tampered = {**request, "context": {**request["context"], "position": 1}}
    assert t.button_press(tampered, KEY) is None
    assert t.button_press({**request, "context": None}, KEY) is None


def test_without_a_callback_url_the_checklist_has_no_buttons() -> None:
    props = t.checklist_props(incident(), [Task(3, "default", 1, "Page")], None, KEY)
    assert "actions" not in props["attachments"][0]


def test_dialog_state_is_signed() -> None:
    state = t.dialog_state(KEY, "n0nce")
    assert t.dialog_nonce(KEY, state) == "n0nce"
    assert t.dialog_nonce(b"other", state) is None
    assert t.dialog_nonce(KEY, "n0nce.forged") is None
    assert t.dialog_nonce(KEY, "") is None


def test_dialog_submission_to_declare() -> None:
    # SubmitDialogRequest, as the server posts it.
    body = {
        "type": "dialog_submission",
        "callback_id": "declare",
        "state": "abc.def",
        "user_id": "ae8sq6bnbpb1ujsbp3ogu9drrc",
        "channel_id": "ziyh1dx1zbdc5p6pr5ir5ihgwe",
        "team_id": "rgpmxdnbc3nd5q5zybxtrw1ane",
        "submission": {"title": " DB down ", "severity": "sev1", "service": None, "private": True},
        "cancelled": False,
    }
    submission = t.dialog_submission(body)
    assert submission.callback_id == "declare" and not submission.cancelled
    declare = t.declare_from_dialog(submission.values)
    assert declare == Declare("DB down", Severity.SEV1, None, True)
    assert t.declare_from_dialog({"title": "x", "private": "false"}).private is False


@pytest.mark.parametrize(
    ("values", "field"),
    [({"title": ""}, "title"), ({"title": "x", "severity": "sev9"}, "severity")],
)
def test_dialog_errors_name_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(t.FormError) as error:
        t.declare_from_dialog(values)
    assert set(t.dialog_errors(error.value)["errors"]) == {field}


def test_declare_dialog_shape() -> None:
    dialog = t.declare_dialog("https://bot.example.com/mattermost/dialog", "s.t")
    assert dialog["callback_id"] == "declare" and dialog["state"] == "s.t"
    severity = next(e for e in dialog["elements"] if e["name"] == "severity")
    assert severity["type"] == "select" and severity["default"] == "sev3"
    assert [o["value"] for o in severity["options"]] == ["sev1", "sev2", "sev3", "sev4"]


def test_hello_and_auth_reply() -> None:
    hello = frame("hello", {"connection_id": "c0nn", "server_version": "9.11.0"}, seq=0)
    assert events.parse_event(hello) == (0, events.Hello("c0nn"))
    assert events.parse_event('{"status": "OK", "seq_reply": 1}') == (
        None,
        events.AuthReply(ok=True),
    )
    error = {"id": "api.web_socket_router.not_authenticated.app_error"}
    fail = json.dumps({"status": "FAIL", "seq_reply": 1, "error": error})
    assert events.parse_event(fail) == (None, events.AuthReply(ok=False))


def test_a_post_from_an_integration_is_marked() -> None:
    # A slash command's in-channel answer, as Mattermost broadcasts it: the invoking user's
    # id, props.from_webhook "true".
    post = {
        "id": "p" * 26,
        "channel_id": "c" * 26,
        "user_id": "u" * 26,
        "message": "Task 3 added",
        "create_at": 1767268800000,
        "type": "",
        "props": {"from_webhook": "true"},
    }
    _, event = events.parse_event(frame("posted", {"post": json.dumps(post)}, seq=4))
    assert isinstance(event, events.Posted) and event.from_webhook
    post["props"] = {}
    _, event = events.parse_event(frame("posted", {"post": json.dumps(post)}, seq=5))
    assert isinstance(event, events.Posted) and not event.from_webhook


def test_posted_carries_the_post_as_json_inside_json() -> None:
    data = {
        "channel_display_name": "INC-3 DB down",
        "channel_name": "inc-3-db-down",
        "channel_type": "O",
        "post": json.dumps(POST),
        "sender_name": "@alice",
        "team_id": "rgpmxdnbc3nd5q5zybxtrw1ane",
    }
    seq, event = events.parse_event(frame("posted", data))
    assert seq == 3
    assert event == events.Posted(
        POST["id"],
        POST["channel_id"],
        POST["user_id"],
        "primary is down",
        datetime(2026, 1, 1, 12, tzinfo=UTC),
        "",
    )


def test_system_posts_keep_their_type() -> None:
    system = {**POST, "type": "system_join_channel", "message": "alice joined the channel."}
    _, event = events.parse_event(frame("posted", {"post": json.dumps(system)}))
    assert isinstance(event, events.Posted) and event.kind == "system_join_channel"


def test_edited_deleted_and_reaction_events() -> None:
    edited = {**POST, "message": "primary is back", "edit_at": 1767268860000}
    assert events.parse_event(frame("post_edited", {"post": json.dumps(edited)}))[
        1
    ] == events.Edited(POST["id"], POST["channel_id"], POST["user_id"], "primary is back")
    deleted = frame("post_deleted", {"post": json.dumps(POST), "delete_by": POST["user_id"]})
    assert events.parse_event(deleted)[1] == events.Deleted(POST["id"], POST["channel_id"])
    reaction = {
        "user_id": "bob0000000000000000000000a",
        "post_id": POST["id"],
        "emoji_name": "pushpin",
        "create_at": 1767268870000,
    }
    assert events.parse_event(frame("reaction_added", {"reaction": json.dumps(reaction)}))[1] == (
        events.Reacted(POST["id"], POST["channel_id"], "bob0000000000000000000000a", "pushpin")
    )


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        frame("typing", {"parent_id": "", "user_id": "x"}),
        frame("posted", {"post": "{broken"}),
        frame("posted", {"post": json.dumps({"message": "no id"})}),
    ],
)
def test_frames_we_do_not_follow_are_none(raw: str) -> None:
    assert events.parse_event(raw)[1] is None
