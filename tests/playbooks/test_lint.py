"""Lint: every problem as file:line:col with a hint; never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.core.model import Severity
from bot.core.playbook import Playbook, json_schema, parse_duration, select
from bot.playbooks.loader import load_paths, load_text

SHIPPED = Path(__file__).resolve().parents[2] / "playbooks"


def problems(text: str) -> list[str]:
    loaded, found = load_text(text, "pb.yaml")
    assert (loaded is None) == bool(found)
    return [str(p) for p in found]


def test_shipped_playbooks_are_valid_and_carry_the_schema_header() -> None:
    loaded, found = load_paths([SHIPPED])
    assert found == []
    assert {p.playbook.name for p in loaded} == {
        "default",
        "major-incident",
        "security-incident",
        "database-outage",
    }
    for file in SHIPPED.glob("*.yaml"):
        assert file.read_text().startswith("# yaml-language-server: $schema=./playbook.schema.json")


def test_shipped_schema_file_is_current() -> None:
    shipped = json.loads((SHIPPED / "playbook.schema.json").read_text())
    # Regenerate with: warroom playbook schema > playbooks/playbook.schema.json
    assert shipped == json_schema()


def test_unknown_key_names_position_and_suggests() -> None:
    assert problems("name: x\nchecklist: []\n") == [
        "pb.yaml:2:1: unknown key 'checklist', did you mean 'checklists'?"
    ]


def test_nested_unknown_key_and_bad_duration() -> None:
    text = (
        "name: x\nchecklists:\n  - name: c\n    tasks:\n"
        "      - titel: a\n        due_after: 15 minutes\n"
    )
    found = problems(text)
    assert (
        "pb.yaml:5:9: unknown key 'titel' in checklists[0].tasks[0], did you mean 'title'?" in found
    )
    assert any(
        p.startswith("pb.yaml:6:20: checklists[0].tasks[0].due_after: bad duration") for p in found
    )
    assert any("missing required key 'title'" in p for p in found)


def test_cross_checks_roles_templates_checklists_duplicates() -> None:
    text = """\
name: x
roles:
  - name: comms
  - name: comms
announcement: "{incidnet} is {severity}"
checklists:
  - name: c
    tasks:
      - title: a
        assignee: comm
triggers:
  - on: declared
    do:
      - add_checklist: d
      - post: "{oops"
"""
    found = problems(text)
    assert "pb.yaml:4:11: roles[1].name: duplicate name 'comms'" in found
    assert any(
        p.startswith(
            "pb.yaml:5:16: announcement: undefined template variable '{incidnet}'. "
            "Did you mean 'incident'?"
        )
        for p in found
    )
    assert any(
        p.startswith("pb.yaml:10:19: checklists[0].tasks[0].assignee: undefined role 'comm'")
        for p in found
    )
    assert any(
        p.startswith("pb.yaml:14:24: triggers[0].do[0].add_checklist: undefined checklist 'd'")
        for p in found
    )
    assert any(p.startswith("pb.yaml:15:15: triggers[0].do[1].post: bad template") for p in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\n  bad: [\n", "pb.yaml:2:6: invalid YAML"),
        ("name: x\nname: y\n", "pb.yaml:2:1: invalid YAML: found duplicate key"),
        ("- a\n- b\n", "pb.yaml:1:1: a playbook is a mapping"),
        ("", "pb.yaml:1:1: a playbook is a mapping"),
        ("name: x\nprivate: [1]\n", "pb.yaml:2:10: private: Input should be a valid boolean"),
        (
            "name: x\ntriggers:\n  - on: declared\n    do: [{post: a, page: b}]\n",
            "pb.yaml:4:10: triggers[0].do[0]: an action has exactly one of",
        ),
        (
            "name: x\nstatus_updates:\n  every:\n    sev9: 1h\n",
            "pb.yaml:4:5: status_updates.every.sev9: Input should be 'sev1'",
        ),
        (
            "name: x\nstatus_updates:\n  every:\n    sev1: 15\n",
            "pb.yaml:4:11: status_updates.every.sev1: bad duration 15",
        ),
    ],
)
def test_bad_input_is_a_positioned_problem(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_yaml_1_2_keeps_no_as_a_string() -> None:
    loaded, found = load_text("name: x\ndescription: no\n", "pb.yaml")
    assert found == [] and loaded is not None and loaded.playbook.description == "no"


def test_durations() -> None:
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("2d").days == 2
    for bad in ("", "15", "m", "1.5h", "0m", "15 min"):
        with pytest.raises(ValueError, match="bad duration"):
            parse_duration(bad)


def test_most_specific_playbook_wins() -> None:
    general = Playbook(name="general")
    sev1 = Playbook.model_validate({"name": "big", "applies_to": {"severities": ["sev1"]}})
    db = Playbook.model_validate({"name": "db", "applies_to": {"services": ["db"]}})
    books = [general, sev1, db]
    assert select(books, Severity.SEV1, "db") is db
    assert select(books, Severity.SEV1, "web") is sev1
    assert select(books, Severity.SEV3, None) is general
    assert select([sev1], Severity.SEV3, None) is None


def test_lint_cli_reports_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nchecklist: []\n")
    good = tmp_path / "good.yaml"
    good.write_text("name: good\n")
    dup = tmp_path / "dup.yml"
    dup.write_text("name: good\n")
    assert main(["playbook", "lint", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:2:1: unknown key 'checklist', did you mean 'checklists'?" in out
    assert ":1:7: duplicate playbook name 'good' (also in " in out
    assert main(["playbook", "lint", str(good)]) == 0
    assert main(["playbook", "lint", str(SHIPPED)]) == 0


def test_schema_cli_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["playbook", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "warroom playbook"
    assert "checklists" in schema["properties"]


def test_the_authoring_guide_example_is_valid() -> None:
    import re

    guide = (SHIPPED.parent / "docs" / "playbooks.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", guide, re.S)
    assert example is not None
    assert problems(example.group(1)) == []
