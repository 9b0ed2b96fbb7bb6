"""The slash-command grammar: every verb parses, every mistake says what to type instead."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import commands as c
from bot.core.model import Severity, State


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("declare Database is down", c.Declare("Database is down")),
        (
            "declare sev1 service:db --private DB down",
            c.Declare("DB down", Severity.SEV1, "db", True),
        ),
        (
            "DECLARE SEV2 Checkout  errors  spike",
            c.Declare("Checkout  errors  spike", Severity.SEV2),
        ),
        ("declare commander:@bob sev4 slow", c.Declare("slow", Severity.SEV4, commander="bob")),
        ("declare playbook:security leaked key", c.Declare("leaked key", playbook="security")),
        ("declare", c.OpenDeclareForm()),
        ("list", c.ListIncidents()),
        ("list --all", c.ListIncidents(include_resolved=True)),
        ("show INC-42", c.Show(42)),
        ("show 7", c.Show(7)),
        ("show inc-3", c.Show(3)),
        ("status Rolled back; error rate falling", c.PostStatus("Rolled back; error rate falling")),
        ("sev sev1", c.SetSeverity(Severity.SEV1)),
        ("state monitoring", c.SetState(State.MONITORING)),
        ("role comms @alice", c.AssignRole("comms", "alice")),
        ("role Scribe bob", c.AssignRole("scribe", "bob")),
        ("note primary restarted", c.AddNote("primary restarted")),
        ("page @carol", c.Page("@carol")),
        ("tasks", c.ListTasks()),
        ("task done 2", c.ChangeTask("done", "2")),
        ("task skip 1", c.ChangeTask("skip", "1")),
        ("task undo 3", c.ChangeTask("undo", "3")),
        ("task add Check replicas", c.AddTask("Check replicas")),
        ("timeline", c.ShowTimeline()),
        ("timeline 50", c.ShowTimeline(50)),
        ("resolve", c.Resolve()),
        ("resolve failed over to the replica", c.Resolve("failed over to the replica")),
        ("postmortem", c.Postmortem()),
        ("help", c.Help()),
        ("", c.Help()),
    ],
)
def test_parses_every_verb(text: str, expected: c.Command) -> None:
    assert c.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("frobnicate", "Unknown command 'frobnicate'"),
        ("decalre sev1 x", "Did you mean 'declare'"),
        ("declare sev1", "Missing a title"),
        ("declare sev9 DB down", "Unknown severity 'sev9'"),
        ("sev sev9", "Unknown severity 'sev9': use sev1 (critical)"),
        ("sev9", "/incident sev sev1..sev4"),
        ("state fixed", "Unknown state 'fixed'"),
        ("state monitorin", "Did you mean 'monitoring'"),
        ("show", "Missing the incident number"),
        ("show INC-x", "write it as INC-42 or 42"),
        ("status", "Missing the update's text"),
        ("role commander", "Missing the user to make commander. Usage"),
        ("role", "Missing a role and a user"),
        ("declare sev2 sev3 Two sevs", "Two severities (sev2 and sev3): give one."),
        ("role commander @a @b", "Usage: /incident role ROLE @user"),
        ("role commander <bad>", "is not a user"),
        ("task frob 1", "Usage: /incident task"),
        ("task done", "Missing the task number"),
        ("timeline lots", "'lots' is not a count"),
        ("list everything", "Usage: /incident list"),
        ("postmortem now", "Usage: /incident postmortem"),
    ],
)
def test_mistakes_say_what_to_type(text: str, says: str) -> None:
    with pytest.raises(c.UsageError) as error:
        c.parse(text)
    assert says in str(error.value)
    assert "\n" not in str(error.value)  # one line


@given(st.text(max_size=200))
def test_any_text_parses_or_gives_usage_error(text: str) -> None:
    try:
        c.parse(text)
    except c.UsageError as error:
        assert str(error)
