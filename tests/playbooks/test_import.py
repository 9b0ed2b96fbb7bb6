"""`warroom playbook import`: Mattermost Playbooks exports (version 1, in the shape
GeneratePlaybookExport writes, written here) -> warroom playbooks that lint clean, with what
could not be carried over printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.playbooks import importer
from bot.playbooks.loader import load_paths, load_text


def export(**changes: Any) -> dict[str, Any]:
    """A playbook exported from Mattermost Playbooks (the Export button's JSON)."""
    base: dict[str, Any] = {
        "version": 1,
        "title": "Customer-facing outage",
        "description": "For outages our customers notice.\nPage early: {always}.",
        "reminder_message_template": "### Changes since last update\n-",
        "reminder_timer_default_seconds": 1800,
        "status_update_enabled": True,
        "message_on_join": "Welcome to {the} incident. Read the runbook first.",
        "message_on_join_enabled": True,
        "retrospective_reminder_interval_seconds": 86400,
        "retrospective_template": "### Summary\n\n### Root cause\n\n### What went well\n",
        "retrospective_enabled": True,
        "signal_any_keywords": ["outage", "down"],
        "signal_any_keywords_enabled": True,
        "categorize_channel_enabled": False,
        "category_name": "",
        "run_summary_template_enabled": True,
        "run_summary_template": "**About**\n- Impact:\n",
        "channel_name_template": "",
        "channel_id": "",
        "channel_mode": "create_new_channel",
        "create_channel_member_on_new_participant": True,
        "create_channel_member_on_removed_participant": True,
        "metrics": [
            {
                "title": "Time to detect",
                "description": "From first alert to declaration",
                "type": "metric_duration",
                "target": 1_800_000,
            },
            {
                "title": "Customers affected",
                "description": "",
                "type": "metric_integer",
                "target": None,
            },
        ],
        "checklists": [
            {
                "title": "Triage",
                "items": [
                    {
                        "title": "Acknowledge the page",
                        "description": "",
                        "command": "",
                        "due_date": 300_000,
                    },
                    {
                        "title": "Start a bridge call",
                        "description": "Everyone on the call, cameras optional.",
                        "command": "/zoom start",
                        "due_date": 0,
                    },
                ],
            },
            {
                "title": "Triage",  # the same title twice: names must stay unique
                "items": [
                    {"title": "Second look", "description": "", "command": "", "due_date": 0}
                ],
            },
            {"title": "Wrap-up (empty)", "items": []},
        ],
    }
    base.update(changes)
    return base


def lints_clean(text: str) -> dict[str, Any]:
    loaded, problems = load_text(text, "imported.yaml")
    assert problems == [] and loaded is not None
    return loaded.playbook.model_dump()


def test_everything_with_a_warroom_equivalent_is_carried_over() -> None:
    conversion = importer.convert(importer.read_export(json.dumps(export())))
    text = importer.to_yaml(conversion.playbook)
    assert text.startswith("# yaml-language-server: $schema=./playbook.schema.json\n")
    playbook = lints_clean(text)
    assert playbook["name"] == "customer-facing-outage"
    assert playbook["description"].startswith("Customer-facing outage (imported")
    assert "Page early: {always}." in playbook["description"]
    # message_on_join: literal braces survive warroom's {variable} templates.
    assert "{{the}}" in text
    every = playbook["status_updates"]["every"]
    assert {str(getattr(s, "value", s)): d for s, d in every.items()} == {
        "sev1": "30m",
        "sev2": "30m",
        "sev3": "30m",
        "sev4": "30m",
    }
    triage, second = playbook["checklists"]
    assert (triage["name"], second["name"]) == ("triage", "triage-2")
    first, call = triage["tasks"]
    assert first["title"] == "Acknowledge the page" and first["due_after"] == "5m"
    assert call["description"].endswith("Run: /zoom start")
    assert playbook["retrospective"]["after"] == "1d"
    assert conversion.retrospective_template is not None
    assert conversion.retrospective_template.startswith("### Summary")


def test_what_cannot_be_carried_over_is_listed() -> None:
    conversion = importer.convert(
        importer.read_export(
            json.dumps(
                export(
                    invited_user_ids=["abcdefghijklmnopqrstuvwxyz"],
                    invite_users_enabled=True,
                    broadcast_channel_ids=["zyxwvutsrqponmlkjihgfedcba", "c" * 26],
                    broadcast_enabled=True,
                    default_owner_id="o" * 26,
                    default_owner_enabled=True,
                )
            )
        )
    )
    left = "\n".join(conversion.left_out)
    for expected in (
        "invited users: 1 Mattermost user id(s) (abcdefghijklmnopqrstuvwxyz)",
        "broadcast to 2 channel(s)",
        "SLACK_ANNOUNCE_CHANNEL",
        "default owner",
        "metric 'Time to detect' (duration, target 30m)",
        "metric 'Customers affected' (integer)",
        "keywords",
        "run summary template",
        "reminder_message_template",
        "/zoom start",
        "checklist 'Wrap-up (empty)' has no items",
        "message_on_join became the announcement",
        "retrospective reminder: warroom reminds once",
        "applies_to",
    ):
        assert expected in left, expected


def test_switched_off_features_are_not_switched_on() -> None:
    conversion = importer.convert(
        export(
            status_update_enabled=False,
            message_on_join_enabled=False,
            retrospective_enabled=False,
            checklists=[],
            metrics=[],
        )
    )
    playbook = lints_clean(importer.to_yaml(conversion.playbook))
    assert playbook["status_updates"] is None
    assert playbook["announcement"] is None
    assert playbook["retrospective"] is None
    assert playbook["checklists"] == []
    assert conversion.retrospective_template is None


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Déploiement échoué", "deploiement-echoue"),
        ("!!!", "imported"),
        ("x" * 200, "x" * 64),
        ("Sev 1 — DB / Replication", "sev-1-db-replication"),
    ],
)
def test_any_title_gives_a_valid_name(title: str, name: str) -> None:
    conversion = importer.convert(export(title=title))
    assert lints_clean(importer.to_yaml(conversion.playbook))["name"] == name


def test_the_imported_playbook_loads_beside_the_shipped_ones(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "playbooks"
    for file in shipped.glob("*.yaml"):
        (tmp_path / file.name).write_text(file.read_text(encoding="utf-8"), encoding="utf-8")
    text = importer.to_yaml(importer.convert(export()).playbook)
    (tmp_path / "imported.yaml").write_text(text, encoding="utf-8")
    loaded, problems = load_paths([tmp_path])
    assert problems == []
    assert "customer-facing-outage" in {item.playbook.name for item in loaded}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"version": 2, "title": "x"}), "export version 2"),
        (json.dumps({"version": 1, "title": ""}), "no title"),
    ],
)
def test_an_unreadable_export_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    source = tmp_path / "pb.json"
    source.write_text(content, encoding="utf-8")
    assert main(["playbook", "import", str(source)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_writes_a_playbook_that_lints_and_prints_what_was_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "outage.json"
    source.write_text(json.dumps(export(), indent=4), encoding="utf-8")
    out = tmp_path / "playbooks" / "outage.yaml"
    out.parent.mkdir()
    assert main(["playbook", "import", str(source), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Not carried over:" in captured.err and "metric 'Time to detect'" in captured.err
    template = out.with_suffix(".retrospective.md")
    assert template.read_text(encoding="utf-8").startswith("### Summary")
    assert main(["playbook", "lint", str(out.parent)]) == 0


def test_cli_prints_to_standard_output_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "outage.json"
    source.write_text(json.dumps(export()), encoding="utf-8")
    assert main(["playbook", "import", str(source)]) == 0
    captured = capsys.readouterr()
    lints_clean(captured.out)
    assert "Not carried over:" in captured.err and "Not carried" not in captured.out
