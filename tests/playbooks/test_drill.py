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
    assert last == "[T+3d 1h] Drill finished."
    # The script resolves at T+70m; default.yaml's retrospective reminder comes 3d later.
    assert sum(waits) == pytest.approx((3 * 86400 + 70 * 60) / 60)


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


# -- issue 12, point 17 ---------------------------------------------------------------------


async def test_drill_reminders_stay_quiet_once_their_point_is_met() -> None:
    lines: list[str] = []
    await run_drill(find_playbook("major-incident", str(PLAYBOOKS)), lines.append)
    out = "\n".join(lines)
    # Both roles are assigned at T+2m and the first update is posted at T+12m.
    assert "Are comms and scribe assigned?" not in out
    assert "task 1 is due: Assign comms and scribe roles" not in out
    assert "task 2 is due: Post the first status update" not in out
    # A task whose point is not met still reminds.
    assert "[T+20m 00s] [#inc-1-drill-of-major-incident] warroom: @alice: task 3 is due" in out


async def test_drill_offsets_read_like_the_postmortem() -> None:
    lines: list[str] = []
    await run_drill(find_playbook("default", str(PLAYBOOKS)), lines.append)
    stamps = {line.split("]", 1)[0] + "]" for line in lines[1:]}
    assert {"[T+0s]", "[T+2m 00s]", "[T+12m 00s]", "[T+1h 10m]"} <= stamps
    assert not any(":" in stamp for stamp in stamps)
