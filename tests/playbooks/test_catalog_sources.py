"""Catalog sources: several paths, folders and globs, both formats, positioned problems, the
Backstage sample, `warroom oncall` and `warroom catalog lint --coverage`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.playbooks.catalog_loader import load_catalog, load_sources

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "backstage"


def test_backstage_sample_loads_with_users_groups_and_annotations() -> None:
    catalog = load_catalog(SAMPLE)
    checkout = catalog.service("checkout")
    assert checkout is not None
    assert (checkout.owner, checkout.system, checkout.tier) == ("payments", "payments", 1)
    assert checkout.dependencies == ["payments-db"]
    assert checkout.runbook == "https://wiki.example.com/runbooks/checkout"
    payments = catalog.team("payments")
    assert payments is not None and payments.members == ["ana", "bob", "carol"]  # + memberOf
    assert catalog.team("dba").members == ["dave"]  # type: ignore[union-attr]
    assert catalog.handle("ana", "slack") == "U0ANA00001"
    policy = payments.policy()
    assert [t.describe() for t in policy.levels[1].targets] == ["@carol", "team sre"]
    assert catalog.calendar_of("payments") is not None


def test_several_sources_comma_separated_folder_and_glob(tmp_path: Path) -> None:
    (tmp_path / "native.yaml").write_text(
        "teams:\n  - name: web\n    members: [wes]\nservices:\n  - name: site\n    owner: web\n"
    )
    spec = f"{tmp_path / 'native.yaml'}, {SAMPLE / 'org'},{SAMPLE}/services/*/catalog-info.yaml"
    catalog = load_catalog(spec)
    assert catalog.owner_of("site").name == "web"  # type: ignore[union-attr]
    assert catalog.owner_of("checkout").name == "payments"  # type: ignore[union-attr]


BAD_BACKSTAGE = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: payments
spec:
  type: team
  membrs: [ana]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  annotations:
    warroom.dev/runbok: https://x
spec:
  type: service
  owner: group:paymnts
  dependsOn: [resource:ledger]
"""


def test_backstage_problems_name_file_line_col_with_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "catalog-info.yaml"
    path.write_text(BAD_BACKSTAGE)
    catalog, problems = load_sources(path)
    assert catalog is None
    assert [str(p) for p in problems] == [
        f"{path}:4:9: metadata.name: team 'payments' has nobody to page: list members, oncall or a rotation",
        f"{path}:7:3: unknown key 'membrs' in spec. Did you mean 'members'?",
        f"{path}:14:5: unknown annotation 'warroom.dev/runbok'. Did you mean 'warroom.dev/runbook'?",
        f"{path}:17:10: spec.owner: undefined team 'paymnts'. Did you mean 'payments'?",
        f"{path}:18:15: spec.dependsOn[0]: undefined service 'ledger'.",
    ]


def test_native_problems_in_the_second_of_two_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("teams:\n  - name: web\n    members: [wes]\n")
    (tmp_path / "b.yaml").write_text("services:\n  - name: site\n    owner: wbe\n    tier: 9\n")
    _, problems = load_sources(f"{tmp_path / 'a.yaml'},{tmp_path / 'b.yaml'}")
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'b.yaml'}:4:11: services[0].tier: Input should be less than or equal to 4"
    ]
    (tmp_path / "b.yaml").write_text("services:\n  - name: site\n    owner: wbe\n")
    _, problems = load_sources(f"{tmp_path / 'a.yaml'},{tmp_path / 'b.yaml'}")
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'b.yaml'}:3:12: services[0].owner: undefined team 'wbe'. Did you mean 'web'?"
    ]


def test_bad_yaml_in_a_later_document_is_positioned_there(tmp_path: Path) -> None:
    path = tmp_path / "catalog-info.yaml"
    group = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: %s}\n"
    path.write_text(group % "web" + "spec: {members: [wes]}\n---\n" + group % "ops" + "spec: [\n")
    _, problems = load_sources(path)
    assert len(problems) == 1 and problems[0].path == str(path)
    assert (problems[0].line, problems[0].col) == (10, 1)  # not the second document's `---`
    assert problems[0].message.startswith("invalid YAML: ")


def test_an_empty_document_keeps_the_numbering_of_positions(tmp_path: Path) -> None:
    path = tmp_path / "catalog-info.yaml"
    path.write_text(
        "---\n# nothing here yet\n---\napiVersion: backstage.io/v1alpha1\nkind: Component\n"
        "metadata: {name: site}\nspec: {type: service, owner: group:wbe}\n"
    )
    _, problems = load_sources(path)
    assert [str(p) for p in problems] == [f"{path}:7:30: spec.owner: undefined team 'wbe'."]


def test_a_duplicate_key_is_a_positioned_problem(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("teams:\n  - name: web\n    members: [wes]\n    members: [ana]\n")
    _, problems = load_sources(path)
    assert len(problems) == 1
    assert (problems[0].line, problems[0].col) == (4, 5)
    assert "duplicate key" in problems[0].message


def test_yaml_12_scalars_on_the_fast_path(tmp_path: Path) -> None:
    # YAML 1.1 would read `no` as false and 18:00 as 1080; warroom reads YAML 1.2.
    (tmp_path / "c.yaml").write_text(
        "teams:\n  - name: no\n    members: [on]\n    rotation:\n      - members: [on]\n"
        "        start: 2027-01-04T09:00:00\n        length: 1d\n"
        "        restrict: {from: 09:00, to: 18:00}\n"
    )
    catalog = load_catalog(tmp_path / "c.yaml")
    team = catalog.team("no")
    assert team is not None and team.members == ["on"]
    assert str(team.rotation[0].restrict.end) == "18:00:00"  # type: ignore[union-attr]


def test_sample_lints_clean_with_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "lint", str(SAMPLE), "--coverage", "--days", "30"]) == 0
    assert "covered for the next 30 days: OK" in capsys.readouterr().err


def test_coverage_gaps_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text(
        "teams:\n"
        "  - name: web\n    members: [wes]\n    rotation:\n      - members: [wes]\n"
        "        start: 2020-01-06T09:00:00\n        timezone: Europe/Zagreb\n        length: 1d\n"
        "        restrict: {days: [mon, tue, wed, thu, fri], from: 09:00, to: 18:00}\n"
        "  - name: ghost\n    members: [gus]\n    oncall: [gus]\n"
        "    escalation:\n      levels:\n        - targets: [{team: web}]\n"
        "        - targets: [{team: nobody-team}]\n"
    )
    assert main(["catalog", "lint", str(tmp_path / "c.yaml"), "--coverage"]) == 1
    out = capsys.readouterr().out
    assert "undefined team 'nobody-team'" in out
    (tmp_path / "c.yaml").write_text(
        (tmp_path / "c.yaml").read_text().replace("nobody-team", "web")
    )
    assert main(["catalog", "lint", str(tmp_path / "c.yaml"), "--coverage", "--days", "7"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("coverage: team 'web': nobody on call ")
    assert "(Europe/Zagreb); " in lines[0] and " gap(s) in the next 7 days" in lines[0]
    assert " 18:00 to " in lines[0] and " 09:00" in lines[0]


def test_oncall_cli_contract(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WARROOM_CATALOG", str(SAMPLE))
    # 29 March 2027 09:00 Zagreb (07:00 UTC, the first Monday after DST) is ana's hand-off.
    assert main(["oncall", "payments", "--at", "2027-03-29T07:30:00Z"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "@ana until Mon 05 Apr 09:00 Europe/Zagreb, then @bob"
    assert main(["oncall", "checkout", "--at", "2027-03-29T06:30:00Z"]) == 0
    assert capsys.readouterr().out.startswith(
        "@bob until Mon 29 Mar 09:00 Europe/Zagreb, then @ana"
    )
    assert main(["oncall", "chekout"]) == 1
    assert "no such team or service 'chekout'; did you mean 'checkout'?" in capsys.readouterr().err
    assert main(["oncall", "ical", "payments", "--at", "2027-03-29T07:30:00Z", "--days", "7"]) == 0
    ics = capsys.readouterr().out
    assert "SUMMARY:@ana" in ics and "DTSTART:20270329T070000Z" in ics


def test_escalation_ending_in_nobody_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.yaml").write_text(
        "teams:\n"
        "  - name: web\n    members: [wes]\n    oncall: [wes]\n"
        "    escalation:\n      levels:\n        - targets: [{oncall: true}]\n"
        "        - targets: [{team: later}]\n"
        "  - name: later\n    members: [lou]\n    overrides:\n"
        "      - {who: lou, from: 2090-01-01T00:00:00Z, until: 2090-01-02T00:00:00Z}\n"
    )
    assert main(["catalog", "lint", str(tmp_path / "c.yaml"), "--coverage"]) == 1
    out = capsys.readouterr().out
    assert "coverage: team 'later': nobody on call " in out
    assert (
        "coverage: team 'web': its escalation policy ends in nobody (the last level, team later"
        in out
    )


def test_readme_catalog_examples_lint_clean(tmp_path: Path) -> None:
    import re
    import shutil

    blocks = re.findall(r"```yaml catalog\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 2, "the README shows both catalog formats"
    shutil.copy(SAMPLE / "org" / "payments-oncall.ics", tmp_path / "payments-oncall.ics")
    for index, block in enumerate(blocks):
        path = tmp_path / f"catalog{index}.yaml"
        path.write_text(block)
        catalog, problems = load_sources(path)
        assert problems == [] and catalog is not None
        assert catalog.owner_of("checkout").name == "payments"  # type: ignore[union-attr]
