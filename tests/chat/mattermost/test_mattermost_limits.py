"""Everything warroom sends Mattermost, checked against the server's own limits
(model/integration_action.go, model/post.go): interactive dialogs (title 24, element display
names 24, help text 150, text defaults and placeholders 150, ...), button actions, a post's
16,383 runes of message and 760,000 runes of props."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from mattermost_peer import (
    MattermostPeer,
    dialog_problems,
    mattermost_chat,
    props_problems,
    running_peer,
)

from bot.chat.mattermost import translate as t
from bot.core.model import Incident, Severity, State, Task, TaskState


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as peer:
        yield peer


def incident(number: int = 7) -> Incident:
    return Incident(
        number,
        "DB down",
        Severity.SEV2,
        State.INVESTIGATING,
        datetime(2026, 1, 1, tzinfo=UTC),
        "alice",
        "mattermost",
    )


def open_request(dialog: dict, url: str = "https://warroom.example.com/mattermost/dialog") -> dict:
    return {"trigger_id": "t" * 40, "url": url, "dialog": dialog}


@pytest.mark.parametrize("state_length", [1, 64, 4096])
@pytest.mark.parametrize("url", ["http://w.test/mattermost/dialog", "https://" + "w" * 200])
def test_the_declare_dialog_is_within_the_servers_limits(state_length: int, url: str) -> None:
    dialog = t.declare_dialog(url, "s" * state_length)
    assert dialog_problems(open_request(dialog, url)) == []
    names = [e["name"] for e in dialog["elements"]]
    assert len(names) == len(set(names))


def test_the_limits_checker_refuses_what_the_server_refuses() -> None:
    good = t.declare_dialog("http://w.test/d", "state")
    long_title = {**good, "title": "Declare an incident, now!"}  # 25
    assert dialog_problems(open_request(long_title)) == [
        "invalid dialog title " + repr(long_title["title"])
    ]
    element = {**good["elements"][0], "display_name": "x" * 25}
    assert dialog_problems(open_request({**good, "elements": [element]}))
    select = {**good["elements"][1], "default": "sev9"}
    assert dialog_problems(open_request({**good, "elements": [select]}))
    help_text = {**good["elements"][2], "help_text": "h" * 151}
    assert dialog_problems(open_request({**good, "elements": [help_text]}))
    assert dialog_problems(open_request(good, url=""))


def test_a_form_error_names_a_field_of_the_dialog() -> None:
    names = {e["name"] for e in t.declare_dialog("http://w.test/d", "s")["elements"]}
    for values in ({"title": " "}, {"title": "x", "severity": "sev9"}):
        with pytest.raises(t.FormError) as error:
            t.declare_from_dialog(values)
        assert set(t.dialog_errors(error.value)["errors"]) <= names


def test_a_submission_at_the_title_limit_declares() -> None:
    limit = t.declare_dialog("http://w.test/d", "s")["elements"][0]["max_length"]
    declare = t.declare_from_dialog({"title": "t" * limit, "severity": "sev1"})
    assert declare.title == "t" * limit and declare.severity is Severity.SEV1


@pytest.mark.parametrize("count", [0, 1, 99, 100, 101, 500])
@pytest.mark.parametrize("title_length", [1, 1999, 2000, 2001, 20_000])
def test_checklist_props_stay_within_the_post_limits(count: int, title_length: int) -> None:
    states = list(TaskState)
    tasks = [
        Task(7, "triage", n, "x" * title_length, states[n % 3], assignee="a" * 64)
        for n in range(1, count + 1)
    ]
    key = b"k" * 32
    props = t.checklist_props(incident(), tasks, "https://w.example/mattermost/actions", key)
    assert props_problems(props) == []
    assert len(props["attachments"]) == min(count, t.MAX_CHECKLIST_ATTACHMENTS)
    assert all(len(a["text"]) <= t.MAX_TASK_TEXT for a in props["attachments"])
    text = t.checklist_text(incident(), tasks)
    assert len(text) <= t.MAX_POST
    if count > t.MAX_CHECKLIST_ATTACHMENTS:
        assert f"{count - t.MAX_CHECKLIST_ATTACHMENTS} more" in text


async def test_a_checklist_of_500_long_tasks_is_accepted_by_the_server(
    peer: MattermostPeer,
) -> None:
    chat = mattermost_chat(peer)
    created = await chat.create_channel("inc-7-db-down", private=False)
    tasks = [Task(7, "triage", n, "y" * 5000) for n in range(1, 501)]
    post_id = await chat.post_checklist(created.id, incident(), tasks)
    tasks[0] = Task(7, "triage", 1, "y" * 5000, TaskState.DONE)
    assert await chat.update_checklist(created.id, post_id, incident(), tasks) is None
    assert props_problems(peer.posts[post_id]["props"]) == []


async def test_the_peer_refuses_props_over_the_limit(peer: MattermostPeer) -> None:
    chat = mattermost_chat(peer)
    created = await chat.create_channel("inc-7-db-down", private=False)
    huge = {"attachments": [{"text": "z" * 800_000}]}
    with pytest.raises(Exception, match="props longer"):
        await chat._call(
            chat.driver.posts.create_post,
            {"channel_id": created.id, "message": "x", "props": huge},
        )


async def test_a_long_message_is_split_into_posts_the_server_accepts(
    peer: MattermostPeer,
) -> None:
    chat = mattermost_chat(peer)
    created = await chat.create_channel("inc-7-db-down", private=False)
    text = "\n".join(f"| {n} | event |" for n in range(5000))
    await chat.post(created.id, text)
    posts = peer.posts_in(created.id)
    assert len(posts) >= 2 and all(len(p["message"]) <= t.MAX_POST for p in posts)
    assert "\n".join(p["message"] for p in posts) == text
