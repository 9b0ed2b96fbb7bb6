"""`warroom report` counts private incidents but names them only with --include-private."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.model import Incident, Severity, State
from bot.core.report import build_report, render_csv, render_json, render_markdown

ROOT = Path(__file__).resolve().parents[2]
DECLARED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "Leaked credentials"


def incidents() -> list[Incident]:
    return [
        Incident(
            1,
            "Checkout slow",
            Severity.SEV3,
            State.RESOLVED,
            DECLARED,
            "a",
            "slack",
            service="checkout",
            resolved_at=DECLARED + timedelta(hours=1),
        ),
        Incident(
            2,
            f"{SECRET} for payroll-db",
            Severity.SEV2,
            State.INVESTIGATING,
            DECLARED,
            "a",
            "slack",
            service="payroll-db",
            private=True,
        ),
    ]


@pytest.mark.parametrize("render", [render_markdown, render_csv, render_json])
def test_private_incidents_are_counted_not_named(render) -> None:  # type: ignore[no-untyped-def]
    report = build_report(incidents(), DECLARED + timedelta(days=1), None)
    text = render(report)
    assert SECRET not in text and "payroll" not in text
    assert report.total.incidents == 2 and report.private_count == 1
    assert "(private)" in text or render is render_json


def test_include_private_names_them() -> None:
    report = build_report(incidents(), DECLARED + timedelta(days=1), None, include_private=True)
    markdown = render_markdown(report)
    assert "## Private incidents" in markdown
    assert f"| INC-2 | {SECRET} for payroll-db | payroll-db | sev2 | investigating |" in markdown
    assert "1 private" in markdown
    document = json.loads(render_json(report))
    assert document["private"] == 1
    assert document["private_incidents"][0]["title"] == f"{SECRET} for payroll-db"


def test_the_cli_flag(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WARROOM_", "SLACK_", "MATTERMOST_"))
    }
    env |= {
        "PYTHONPATH": str(ROOT),
        "WARROOM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/w.db",
        "WARROOM_PLAYBOOKS": str(ROOT / "playbooks"),
    }

    def warroom(*args: str, stdin: str = "") -> str:
        run = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    warroom("console", "--user", "alice", stdin=f"/incident declare sev2 --private {SECRET}\n")
    plain = warroom("report")
    assert SECRET not in plain and "1 private" in plain
    assert SECRET in warroom("report", "--include-private")
