"""The engine is pure: plain values in, plain values out, no loop and no clock."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.core import engine as e
from bot.core.model import Severity, State
from bot.core.playbook import Playbook

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

PLAYBOOK = Playbook.model_validate(
    {
        "name": "p",
        "roles": [{"name": "comms"}],
        "announcement": "{incident} {severity} by {declared_by}",
        "status_updates": {"every": {"sev1": "15m", "sev2": "1h"}, "message": "update {cadence}"},
        "checklists": [
            {"name": "now", "tasks": [{"title": "a", "assignee": "comms", "due_after": "5m"}]},
            {"name": "after", "start": "resolved", "tasks": [{"title": "b"}]},
            {"name": "extra", "start": "manual", "tasks": [{"title": "c"}]},
        ],
        "retrospective": {"after": "2d"},
        "triggers": [
            {
                "on": "severity_changed",
                "when": {"severities": ["sev1"]},
                "do": [{"post": "now sev1"}, {"add_checklist": "extra"}],
            },
            {"on": "task_done", "do": [{"remind": {"after": "10m", "text": "x", "role": "comms"}}]},
            {"on": "declared", "do": [{"assign_role": {"role": "comms", "user": "@bob"}}]},
        ],
    }
)


def state(**changes: object) -> e.RunState:
    base = e.RunState(PLAYBOOK, "INC-7", "t", Severity.SEV2, State.INVESTIGATING, T0, "alice", T0)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_declared_announces_adds_checklist_schedules_update_and_runs_triggers() -> None:
    s, effects = e.step(state(), e.Declared(), T0)
    assert effects[0] == e.Post("INC-7 sev2 by alice")
    assert effects[1] == e.AddChecklist("now", tuple(PLAYBOOK.checklists[0].tasks))
    due = T0 + timedelta(hours=1)
    assert effects[2] == e.ScheduleReminder(
        "status_update", due, "", None, key=f"INC-7:status:{due.isoformat()}"
    )
    assert effects[3] == e.AssignRole("comms", "bob")
    assert s.checklists == ("now",)


def test_severity_change_reschedules_from_last_update_never_in_the_past() -> None:
    now = T0 + timedelta(minutes=40)
    s, effects = e.step(state(checklists=("now",)), e.SeverityChanged(Severity.SEV1), now)
    assert s.severity is Severity.SEV1
    assert effects[0] == e.CancelReminders(("status_update",))
    assert effects[1].due_at == now  # 15m after the last update is already past: due now
    assert e.Post("now sev1") in effects
    assert any(isinstance(x, e.AddChecklist) and x.name == "extra" for x in effects)
    # A checklist is added once, however often the trigger fires.
    _, again = e.step(s, e.SeverityChanged(Severity.SEV1), now)
    assert not any(isinstance(x, e.AddChecklist) for x in again)


def test_status_posted_resets_the_cadence() -> None:
    now = T0 + timedelta(minutes=20)
    s, effects = e.step(state(), e.StatusPosted(), now)
    assert s.last_status_at == now
    assert effects[1].due_at == now + timedelta(hours=1)


def test_overdue_posts_template_and_repeats() -> None:
    now = T0 + timedelta(hours=1)
    _, effects = e.step(state(), e.StatusOverdue(), now)
    assert effects[0] == e.Post("update 1h")
    assert effects[-1].due_at == now + timedelta(hours=1)


def test_resolve_cancels_response_reminders_and_starts_post_incident() -> None:
    now = T0 + timedelta(hours=3)
    s, effects = e.step(state(), e.StateChanged(State.RESOLVED), now)
    assert e.CancelReminders(("status_update", "task_due", "remind")) in effects
    assert e.AddChecklist("after", tuple(PLAYBOOK.checklists[1].tasks)) in effects
    retro = [x for x in effects if isinstance(x, e.ScheduleReminder)]
    assert [r.kind for r in retro] == ["retrospective"] and retro[0].due_at == now + timedelta(
        days=2
    )
    # Once resolved, updates are no longer due.
    assert e.step(s, e.StatusOverdue(), now)[1] == []
    assert e.step(s, e.StatusPosted(), now)[1] == []


def test_task_done_trigger_reminds_a_role() -> None:
    _, effects = e.step(state(), e.TaskDone(1, "a"), T0)
    assert effects == [
        e.ScheduleReminder(
            "remind",
            T0 + timedelta(minutes=10),
            "x",
            "role:comms",
            key=f"INC-7:task_done:1:0:{T0.isoformat()}",
        )
    ]


def test_no_cadence_for_severity_means_no_reminder() -> None:
    _, effects = e.step(state(severity=Severity.SEV4), e.StatusPosted(), T0)
    assert effects == [e.CancelReminders(("status_update",))]


@pytest.mark.parametrize(
    "event",
    [
        e.Declared(),
        e.SeverityChanged(Severity.SEV1),
        e.StateChanged(State.RESOLVED),
        e.StatusPosted(),
        e.StatusOverdue(),
        e.TaskDone(2, "Check recent deploys"),
    ],
)
def test_an_event_survives_the_outbox_as_json(event: e.Event) -> None:
    stored = json.loads(json.dumps(e.event_data(event)))
    assert e.event_from_data(stored) == event


def test_anything_else_is_not_an_event() -> None:
    with pytest.raises(ValueError, match="not a playbook event"):
        e.event_from_data({"event": "Deleted"})
