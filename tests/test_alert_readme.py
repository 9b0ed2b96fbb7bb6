"""The README's alert examples work: the Alertmanager receiver passes the real amtool's
check, the rules example lints clean against the example catalog."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.playbooks.alert_rules import load_rules_text
from bot.playbooks.catalog_loader import load_catalog

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```yml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.skipif(
    shutil.which("amtool") is None, reason="prometheus-alertmanager is not installed"
)
def test_readme_alertmanager_receiver_is_valid_for_alertmanager(tmp_path: Path) -> None:
    [config] = [b for b in BLOCKS if "receivers:" in b]
    path = tmp_path / "alertmanager.yml"
    path.write_text(config.replace("<WARROOM_ALERTS_TOKEN>", "s3cret"))
    result = subprocess.run(
        ["amtool", "check-config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 receivers" in result.stdout


def test_readme_rules_example_lints_clean() -> None:
    [rules_text] = [b for b in BLOCKS if b.startswith("rules:")]
    catalog = load_catalog(ROOT / "catalog.example.yaml")
    rules, errors, warnings = load_rules_text(rules_text, catalog, "README")
    assert rules is not None and errors == [] and warnings == []
    assert [r.action.value for r in rules.rules] == ["declare", "attach"]
