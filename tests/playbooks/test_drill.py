"""Drills replay a playbook with compressed time; golden transcripts keep them honest.

Regenerate after an intended change: WARROOM_UPDATE_GOLDEN=1 pytest tests/playbooks/test_drill.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.playbooks.cli import find_playbook
from bot.playbooks.drill import run_drill

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
PLAYBOOKS = ROOT / "playbooks"


@pytest.mark.parametrize("name", ["major-incident", "database-outage"])
async def test_drill_transcript_matches_golden(name: str) -> None:
    lines: list[str] = []
    await run_drill(find_playbook(name, str(PLAYBOOKS)), lines.append)
    transcript = "\n".join(lines) + "\n"
    golden = GOLDEN / f"drill_{name}.txt"
    if os.environ.get("WARROOM_UPDATE_GOLDEN"):
        golden.write_text(transcript)
    assert transcript == golden.read_text()


async def test_drill_speed_waits_simulated_time_divided_by_speed() -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    lines: list[str] = []
    await run_drill(
        find_playbook("default", str(PLAYBOOKS)), lines.append, speed=60, sleep=fake_sleep
    )
    # Every simulated second until the last reminder, compressed 60 times.
    last = lines[-2] if "pending beyond" in lines[-2] else lines[-1]
    assert last.endswith("Drill finished.")
    hours, minutes = map(int, last[3:8].split(":"))
    assert sum(waits) == pytest.approx((hours * 3600 + minutes * 60) / 60)


def test_drill_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_PLAYBOOKS", str(PLAYBOOKS))
    assert main(["drill", "security-incident"]) == 0
    out = capsys.readouterr().out
    assert "(private channel created)" in out
    assert "no service catalog" in out
    assert main(["drill", "nope"]) == 1
    assert "no playbook named 'nope'" in capsys.readouterr().err


def test_console_refuses_invalid_playbooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "bad.yaml").write_text("name: bad\nchecklist: []\n")
    monkeypatch.setenv("WARROOM_PLAYBOOKS", str(folder))
    monkeypatch.setenv("WARROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/w.db")
    for command in (["console"], ["run"]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert f"{folder / 'bad.yaml'}:2:1: unknown key 'checklist'" in err
        assert "not starting" in err
        assert "Traceback" not in err
    assert not (tmp_path / "w.db").exists()  # refused before touching the database


def test_console_uses_the_configured_playbooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setenv("WARROOM_PLAYBOOKS", str(PLAYBOOKS))
    monkeypatch.setenv("WARROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/w.db")
    monkeypatch.setattr("sys.stdin", io.StringIO("/incident declare sev1 Checkout down\n"))
    assert main(["console", "--user", "alice"]) == 0
    out = capsys.readouterr().out
    assert "Comms posts updates every 15m" in out  # major-incident's announcement
    assert "1. [ ] Assign comms and scribe roles" in out
