"""/incident, checklist buttons and the declare dialog, end to end: form posts and JSON as
Mattermost sends them, the real driver calling the local peer, a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mattermost_bot import Bot, running_bot
from mattermost_peer import MattermostPeer, running_peer

from bot.core import messages
from bot.core.model import Change, TaskState


@pytest.fixture
async def peer() -> AsyncIterator[MattermostPeer]:
    async with running_peer() as peer:
        peer.add_user("alice")
        peer.add_user("bob")
        yield peer


@pytest.fixture
async def bot(peer: MattermostPeer, sqlite_url: str) -> AsyncIterator[Bot]:
    async with running_bot(peer, sqlite_url) as bot:
        yield bot


def town_square(peer: MattermostPeer) -> str:
    return str(peer.channel("town-square")["id"])


async def test_a_wrong_token_is_refused_and_nothing_runs(
    bot: Bot, peer: MattermostPeer, caplog: pytest.LogCaptureFixture
) -> None:
    response = await bot.command("alice", town_square(peer), "declare DB down", token="guess")
    # Mattermost drops the body of any answer but 200: the explanation must come as a 200.
    assert response.status_code == 200 and peer.command_failures == []
    alice = peer.user("alice")["id"]
    assert peer.ephemeral == [
        {
            "user_id": alice,
            "post": {"channel_id": town_square(peer), "message": messages.COMMAND_TOKEN_MISMATCH},
        }
    ]
    assert await bot.app.store.list_incidents() == []
    assert "MATTERMOST_COMMAND_TOKEN" in caplog.text and "guess" not in caplog.text


async def test_declare_creates_channel_summary_and_announcement(
    bot: Bot, peer: MattermostPeer
) -> None:
    response = await bot.command("alice", town_square(peer), "declare sev2 DB down")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["response_type"] == "in_channel"
    assert body["text"] == "INC-1 declared (sev2): DB down. Join ~inc-1-db-down."

    channel = peer.channel("inc-1-db-down")
    assert channel["type"] == "O"
    assert peer.user("alice")["id"] in peer.members[channel["id"]]
    assert channel["header"] == "INC-1 sev2 (major) | investigating | commander: @alice"
    (summary,) = peer.posts_in(channel["id"])
    assert summary["is_pinned"] and summary["message"].startswith("INC-1: DB down")
    (announcement,) = peer.posts_in(peer.channel("incidents")["id"])
    assert "Join ~inc-1-db-down" in announcement["message"]

    incident = await bot.app.store.get_incident(1)
    assert incident is not None
    assert (incident.channel_id, incident.summary_message_id) == (channel["id"], summary["id"])


async def test_a_commander_outside_the_team_does_not_stop_the_declaration(
    bot: Bot, peer: MattermostPeer
) -> None:
    peer.add_user("contractor", in_team=False)
    response = await bot.command(
        "alice", town_square(peer), "declare sev2 commander:@contractor DB down"
    )
    assert response.status_code == 200
    channel = peer.channel("inc-1-db-down")
    assert peer.user("contractor")["id"] not in peer.members[channel["id"]]
    assert peer.user("alice")["id"] in peer.members[channel["id"]]
    assert channel["header"].startswith("INC-1 sev2 (major)")
    (summary,) = [p for p in peer.posts_in(channel["id"]) if p["user_id"] == peer.bot["id"]]
    assert summary["is_pinned"]
    assert len(peer.posts_in(peer.channel("incidents")["id"])) == 1


async def test_the_pinned_summary_is_edited_in_place(bot: Bot, peer: MattermostPeer) -> None:
    await bot.command("alice", town_square(peer), "declare sev3 Checkout slow")
    channel = peer.channel("inc-1-checkout-slow")
    (summary,) = peer.posts_in(channel["id"])
    response = await bot.command("alice", channel["id"], "sev sev1")
    assert response.json() == {"response_type": "ephemeral", "text": ""}
    assert "Severity: sev1 (critical)" in peer.posts[summary["id"]]["message"]
    assert channel["header"].startswith("INC-1 sev1 (critical)")
    assert len(peer.calls_to("PUT", f"/api/v4/posts/{summary['id']}/patch")) == 1


async def test_after_the_edit_time_limit_the_summary_is_posted_again_and_pinned(
    bot: Bot, peer: MattermostPeer
) -> None:
    await bot.command("alice", town_square(peer), "declare sev3 Checkout slow")
    channel = peer.channel("inc-1-checkout-slow")
    (old,) = peer.posts_in(channel["id"])
    peer.post_edit_time_limit = 300  # ServiceSettings.PostEditTimeLimit
    peer.now_millis = old["create_at"] + 301_000
    response = await bot.command("alice", channel["id"], "sev sev1")
    assert response.status_code == 200
    assert "Severity: sev1" not in peer.posts[old["id"]]["message"]  # refused: 400
    summaries = [p for p in peer.posts_in(channel["id"]) if p["message"].startswith("INC-1: ")]
    (new,) = [p for p in summaries if p["id"] != old["id"]]
    assert "Severity: sev1 (critical)" in new["message"]
    assert new["is_pinned"] and not peer.posts[old["id"]]["is_pinned"]
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.summary_message_id == new["id"]
    # The next change edits the new post in place.
    await bot.command("alice", channel["id"], "state identified")
    assert "identified" in peer.posts[new["id"]]["message"]
    summaries = [p for p in peer.posts_in(channel["id"]) if p["message"].startswith("INC-1: ")]
    assert len(summaries) == 2


async def test_after_the_edit_time_limit_the_checklist_is_posted_again(
    bot: Bot, peer: MattermostPeer
) -> None:
    await bot.command("alice", town_square(peer), "declare DB down")
    channel_id = peer.channel("inc-1-db-down")["id"]
    await bot.command("alice", channel_id, "task add Page the DBA")
    incident = await bot.app.store.get_incident(1)
    assert incident is not None
    tasks = await bot.app.store.tasks(1)
    old = await bot.platform.chat.post_checklist(channel_id, incident, tasks)
    incident.checklist_message_id = old
    await bot.app.store.commit(Change(incident=incident))
    peer.post_edit_time_limit = 300
    peer.now_millis = peer.posts[old]["create_at"] + 301_000
    await bot.command("alice", channel_id, "task done 1")
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.checklist_message_id not in (None, old)
    new = peer.posts[incident.checklist_message_id]  # type: ignore[index]
    assert new["message"] == "Checklist of INC-1: 1/1 done or skipped."
    assert peer.posts[old]["message"] == "Checklist of INC-1: 0/1 done or skipped."


async def test_private_declare_makes_a_private_channel_without_announcement(
    bot: Bot, peer: MattermostPeer
) -> None:
    response = await bot.command("alice", town_square(peer), "declare --private Key leak")
    assert response.json()["response_type"] == "ephemeral"
    assert peer.channel("inc-1-key-leak")["type"] == "P"
    assert peer.posts_in(peer.channel("incidents")["id"]) == []


async def test_a_taken_channel_name_gets_a_suffix(bot: Bot, peer: MattermostPeer) -> None:
    peer.add_channel("inc-1-db-down")
    await bot.command("alice", town_square(peer), "declare DB down")
    incident = await bot.app.store.get_incident(1)
    assert incident is not None and incident.channel_name == "inc-1-db-down-2"


async def test_usage_errors_are_ephemeral_replies(bot: Bot, peer: MattermostPeer) -> None:
    response = await bot.command("alice", town_square(peer), "status all good")
    assert response.json() == {
        "response_type": "ephemeral",
        "text": messages.not_in_incident_channel("status"),
    }


async def test_declare_without_text_opens_the_dialog(bot: Bot, peer: MattermostPeer) -> None:
    form_channel = town_square(peer)
    response = await bot.command("alice", form_channel, "declare")
    assert response.json() == {"response_type": "ephemeral", "text": ""}
    (opened,) = peer.dialogs
    assert opened["url"] == "http://warroom.test/mattermost/dialog"
    assert opened["trigger_id"]
    assert [e["name"] for e in opened["dialog"]["elements"]] == [
        "title",
        "severity",
        "service",
        "private",
    ]

    values = {"title": "Payments failing", "severity": "sev1", "service": "pay", "private": False}
    submitted = await peer.submit_dialog(bot.http, "bob", form_channel, values)
    assert submitted.status_code == 200 and submitted.json() == {}
    incident = await bot.app.store.get_incident(1)
    assert incident is not None
    assert (incident.title, incident.severity, incident.service) == (
        "Payments failing",
        "sev1",
        "pay",
    )
    assert incident.declared_by == "bob"
    (reply,) = peer.posts_in(form_channel)
    assert reply["message"].startswith("INC-1 declared (sev1): Payments failing.")

    # Submitted twice (a double click, a retry): still one incident.
    await peer.submit_dialog(bot.http, "bob", form_channel, values)
    assert len(await bot.app.store.list_incidents()) == 1


async def test_dialog_errors_keep_the_form_open(bot: Bot, peer: MattermostPeer) -> None:
    await bot.command("alice", town_square(peer), "declare")
    response = await peer.submit_dialog(
        bot.http, "alice", town_square(peer), {"title": "  ", "severity": "sev2"}
    )
    assert response.json() == {"errors": {"title": messages.missing("declare", "a title")}}
    assert await bot.app.store.list_incidents() == []


async def test_a_private_dialog_declare_answers_ephemerally(bot: Bot, peer: MattermostPeer) -> None:
    await bot.command("alice", town_square(peer), "declare")
    values = {"title": "Leak", "severity": "sev2", "private": True}
    await peer.submit_dialog(bot.http, "alice", town_square(peer), values)
    (note,) = peer.ephemeral
    assert note["user_id"] == peer.user("alice")["id"]
    assert note["post"]["message"].startswith("INC-1 declared")


async def test_without_ephemeral_permission_the_answer_comes_by_direct_message(
    bot: Bot, peer: MattermostPeer
) -> None:
    peer.ephemeral_allowed = False
    await bot.command("alice", town_square(peer), "declare")
    values = {"title": "Leak", "severity": "sev2", "private": True}
    await peer.submit_dialog(bot.http, "alice", town_square(peer), values)
    alice = peer.user("alice")["id"]
    direct = next(c for c in peer.channels.values() if c["type"] == "D")
    assert peer.members[direct["id"]] == {alice, peer.bot["id"]}
    (message,) = peer.posts_in(direct["id"])
    assert message["message"].startswith("INC-1 declared")
    assert peer.posts_in(town_square(peer)) == []


async def test_a_form_from_a_direct_message_is_answered_to_its_user(
    bot: Bot, peer: MattermostPeer
) -> None:
    alice, bob = peer.user("alice")["id"], peer.user("bob")["id"]
    direct = peer.add_channel(f"{alice}__{bob}", "D")
    peer.members[direct["id"]] = {alice, bob}
    await bot.command("alice", direct["id"], "declare")
    values = {"title": "DB down", "severity": "sev2"}
    await peer.submit_dialog(bot.http, "alice", direct["id"], values)
    assert peer.posts_in(direct["id"]) == []
    (note,) = peer.ephemeral
    assert note["user_id"] == alice and note["post"]["message"].startswith("INC-1 declared")


async def test_a_forged_dialog_state_is_refused(bot: Bot, peer: MattermostPeer) -> None:
    forged = {
        "url": "http://warroom.test/mattermost/dialog",
        "dialog": {"callback_id": "declare", "state": "abc.0123"},
    }
    response = await peer.submit_dialog(
        bot.http, "alice", town_square(peer), {"title": "x"}, dialog=forged
    )
    assert response.status_code == 401
    assert await bot.app.store.list_incidents() == []


async def test_without_a_public_url_the_form_says_what_to_set(
    peer: MattermostPeer, sqlite_url: str
) -> None:
    async with running_bot(peer, sqlite_url, public_url=None) as bot:
        response = await bot.command("alice", town_square(peer), "declare")
    assert response.json()["text"] == messages.FORM_NEEDS_PUBLIC_URL
    assert peer.dialogs == []


async def test_checklist_buttons_change_tasks_and_redraw_the_checklist(
    bot: Bot, peer: MattermostPeer
) -> None:
    await bot.command("alice", town_square(peer), "declare DB down")
    channel_id = peer.channel("inc-1-db-down")["id"]
    await bot.command("alice", channel_id, "task add Page the DBA")
    await bot.command("alice", channel_id, "task add Fail over")
    incident = await bot.app.store.get_incident(1)
    assert incident is not None
    tasks = await bot.app.store.tasks(1)
    post_id = await bot.platform.chat.post_checklist(channel_id, incident, tasks)

    response = await peer.click(bot.http, "bob", post_id, "Done")
    assert response.status_code == 200
    assert [t.state for t in await bot.app.store.tasks(1)] == [TaskState.DONE, TaskState.OPEN]
    post = peer.posts[post_id]
    assert post["message"] == "Checklist of INC-1: 1/2 done or skipped."
    assert [a["name"] for a in post["props"]["attachments"][0]["actions"]] == ["Undo"]
    said = [p["message"] for p in peer.posts_in(channel_id)]
    assert "Task 1 is now done: Page the DBA (@bob)" in said

    await peer.click(bot.http, "bob", post_id, "Undo")
    assert [t.state for t in await bot.app.store.tasks(1)] == [TaskState.OPEN, TaskState.OPEN]


async def test_a_forged_button_is_refused(bot: Bot, peer: MattermostPeer) -> None:
    await bot.command("alice", town_square(peer), "declare DB down")
    channel_id = peer.channel("inc-1-db-down")["id"]
    await bot.command("alice", channel_id, "task add Page the DBA")
    incident = await bot.app.store.get_incident(1)
    assert incident is not None
    post_id = await bot.platform.chat.post_checklist(
        channel_id, incident, await bot.app.store.tasks(1)
    )
    action = peer.posts[post_id]["props"]["attachments"][0]["actions"][0]
    action["integration"]["context"]["position"] = 2  # signed for task 1
    response = await peer.click(bot.http, "bob", post_id, "Done")
    assert response.status_code == 401
    assert [t.state for t in await bot.app.store.tasks(1)] == [TaskState.OPEN]
