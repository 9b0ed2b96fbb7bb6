"""The suite passes whatever WARROOM_*, SLACK_*, MATTERMOST_* or .env the caller has (issue 12,
point 6): a sample of it runs again under a hostile environment and working folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = {
    "WARROOM_HTTP_PORT": "abc",
    "WARROOM_PLAYBOOKS": "/nonexistent/playbooks",
    "WARROOM_DATABASE_URL": "garbage",
    "WARROOM_ANNOUNCE_CHANNEL": "C-announce",
    "SLACK_BOT_TOKEN": "xoxb-caller",
    "SLACK_SIGNING_SECRET": "caller-secret",
    "MATTERMOST_URL": "https://chat.example.com",
}


def test_a_sample_of_the_suite_passes_under_the_callers_settings(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WARROOM_HTTP_PORT=not-a-port\nMATTERMOST_TOKEN=caller\n")
    sample = [
        "tests/test_settings.py",
        "tests/cli/test_first_run.py::test_half_a_platform_is_an_error_not_the_console",
        "tests/playbooks/test_drill.py",
    ]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(ROOT),
            "-c",
            str(ROOT / "pyproject.toml"),
            *(str(ROOT / path) for path in sample),
        ],
        env={**os.environ, **HOSTILE},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "error" not in result.stdout.lower()
