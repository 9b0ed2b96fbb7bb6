"""Alert routing rules: lint with file:line:col, checked against the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.playbooks.alert_rules import load_rules_text
from bot.playbooks.catalog_loader import load_catalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(ROOT / "catalog.example.yaml")


def test_rule_naming_a_missing_service_fails_with_its_position() -> None:
    text = "rules:\n  - match: {severity: critical}\n    service: chekout\ndefault: {}\n"
    rules, errors, warnings = load_rules_text(text, CATALOG, "r.yaml")
    assert rules is None and warnings == []
    assert [str(e) for e in errors] == [
        "r.yaml:3:14: rules[0].service: undefined service 'chekout'. Did you mean 'checkout'?"
    ]


def test_no_default_route_warns_but_loads() -> None:
    rules, errors, warnings = load_rules_text("rules: []\n", CATALOG, "r.yaml")
    assert rules is not None and errors == []
    assert str(warnings[0]).startswith("r.yaml:1:1: warning: no default route")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("rules:\n  - matc: {a: b}\n", "r.yaml:2:5: unknown key 'matc' in rules[0], did you mean"),
        ("rules:\n  - action: page\n", "r.yaml:2:13: rules[0].action: Input should be"),
        ("rules:\n  - match_re: {a: '('}\n", "r.yaml:2:15: rules[0].match_re: 'a': bad regular"),
        ("default: {to: pager}\n", "r.yaml:1:15: default.to: Input should be 'channel' or"),
    ],
)
def test_schema_problems_are_positioned(text: str, says: str) -> None:
    _, errors, _ = load_rules_text(text, CATALOG, "r.yaml")
    assert str(errors[0]).startswith(says), errors


def test_alerts_lint_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = str(ROOT / "catalog.example.yaml")
    example = str(ROOT / "alert-rules.example.yaml")
    monkeypatch.delenv("WARROOM_CATALOG", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the caller's
    assert main(["alerts", "lint", example]) == 1  # no catalog: every named service fails
    capsys.readouterr()
    monkeypatch.setenv("WARROOM_CATALOG", catalog)
    assert main(["alerts", "lint", example]) == 0
    assert "4 rule(s), 0 warning(s): OK" in capsys.readouterr().err
    bad = tmp_path / "r.yaml"
    bad.write_text("rules:\n  - service: nope\n")
    assert main(["alerts", "lint", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:2:14: rules[0].service: undefined service 'nope'" in out
    assert f"{bad}:1:1: warning: no default route" in out


def test_an_invalid_rules_file_stops_the_bot_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - service: nope\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WARROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/w.db")
    monkeypatch.setenv("WARROOM_CATALOG", str(ROOT / "catalog.example.yaml"))
    monkeypatch.setenv("WARROOM_ALERT_RULES", str(bad))
    assert main(["console"]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2:14: rules[0].service: undefined service 'nope'" in err
    assert not (tmp_path / "w.db").exists()  # refused before touching the database


def test_offer_to_oncall_loads_and_warns_where_the_team_has_no_oncall() -> None:
    from bot.core.alerts.rules import OfferTo
    from bot.playbooks.catalog_loader import load_catalog_text

    text = "rules:\n  - match: {team: web}\n    team: web\n    to: oncall\ndefault: {to: oncall}\n"
    catalog, _ = load_catalog_text(
        "teams:\n  - {name: web, members: [amy]}\n  - {name: ops, oncall: [bo]}\n", "c.yaml"
    )
    rules, errors, warnings = load_rules_text(text, catalog, "r.yaml")
    assert rules is not None and errors == []
    assert rules.rules[0].to is OfferTo.ONCALL and rules.default is not None
    assert rules.default.to is OfferTo.ONCALL
    assert [str(w) for w in warnings] == [
        "r.yaml:4:9: warning: rules[0].to: 'web' has no on-call in the catalog (no oncall, "
        "rotation, overrides or calendar): its offers go to the team's channel instead"
    ]
