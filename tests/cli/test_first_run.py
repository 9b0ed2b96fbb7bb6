"""The first hour of a new user or operator (issue 12, points 1-6): from a wheel as well as a
clone, misconfiguration is one line and exit 1, and ending a session is quiet."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bot.shipped import playbooks_dir
from bot.store import migrate

ROOT = Path(__file__).resolve().parents[2]

INCIDENT = """\
/incident declare sev1 Payments are down
/join #inc-1-payments-are-down
/incident status Looking into it
/incident resolve Fixed
"""


def warroom(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = "",
    pythonpath: str | None = None,
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    base["PYTHONPATH"] = pythonpath or str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        text=True,
        capture_output=True,
        env={**base, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the checkout and unpacked as pip would install it."""
    src = tmp_path_factory.mktemp("src")
    for name in ("bot", "migrations", "playbooks"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("warroom-*.whl")
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def test_wheel_ships_migrations_and_playbooks(wheel_site: Path) -> None:
    shipped = wheel_site / "bot" / "_shipped"
    versions = sorted(p.name for p in (shipped / "migrations" / "versions").glob("*.py"))
    assert versions == sorted(p.name for p in (ROOT / "migrations" / "versions").glob("*.py"))
    assert (shipped / "migrations" / "env.py").is_file()
    assert (shipped / "migrations" / "script.py.mako").is_file()
    playbooks = sorted(p.name for p in (shipped / "playbooks").iterdir())
    assert playbooks == sorted(p.name for p in (ROOT / "playbooks").iterdir())


def test_wheel_install_runs_from_an_empty_folder(wheel_site: Path, tmp_path: Path) -> None:
    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        result = warroom(*args, cwd=tmp_path, stdin=stdin, pythonpath=str(wheel_site))
        assert "Traceback" not in result.stderr, result.stderr
        return result

    console = run("console", "--user", "alice", stdin=INCIDENT)
    assert console.returncode == 0, console.stderr
    # The shipped major-incident playbook runs: its checklist, from inside the installation.
    assert "warroom: Tasks of INC-1:" in console.stdout
    assert "(shipped with warroom)" in console.stderr
    assert str(wheel_site) in console.stderr
    assert (tmp_path / "warroom.db").exists()
    upgrade = run("db", "upgrade")
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert upgrade.returncode == 0 and f"schema at revision {head}" in upgrade.stdout
    export = run("export", "INC-1")
    assert export.returncode == 0 and export.stdout.startswith("# INC-1: Payments are down")
    report = run("report", "--format", "json")
    assert report.returncode == 0 and json.loads(report.stdout)["total"]["incidents"] == 1
    drill = run("drill", "major-incident")
    assert drill.returncode == 0, drill.stderr
    assert "Drill of playbook major-incident" in drill.stdout
    assert "Drill finished." in drill.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warroom.db"]


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is not set"),
        ({"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN is not set"),
        ({"MATTERMOST_URL": "https://chat.example.com"}, "MATTERMOST_TOKEN and MATTERMOST_TEAM"),
    ],
)
def test_half_a_platform_is_an_error_not_the_console(
    env: dict[str, str], missing: str, tmp_path: Path
) -> None:
    result = warroom("run", cwd=tmp_path, env=env, stdin=None)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warroom: not starting: "), result.stderr
    assert missing in lines[0]
    assert "console" not in result.stderr and not (tmp_path / "warroom.db").exists()


@pytest.mark.parametrize(
    ("url", "command"), [("garbage", ("report",)), ("mysql://x", ("console",))]
)
def test_unknown_database_urls_are_one_line(
    url: str, command: tuple[str, ...], tmp_path: Path
) -> None:
    result = warroom(*command, cwd=tmp_path, env={"WARROOM_DATABASE_URL": url})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "warroom: invalid configuration:",
        "  WARROOM_DATABASE_URL: Value error, use sqlite+aiosqlite:///path.db or "
        f"postgresql+asyncpg://host/db (got {url!r})",
    ]


@pytest.mark.parametrize("command", [("export", "INC-1"), ("report",)])
def test_reading_commands_do_not_create_a_database(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    result = warroom(*command, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"warroom: there is no database at {tmp_path / 'warroom.db'}: run this where the "
        "console or the bot ran, or set WARROOM_DATABASE_URL to its database."
    )
    assert list(tmp_path.iterdir()) == []


def test_console_from_another_folder_runs_the_shipped_playbooks(tmp_path: Path) -> None:
    result = warroom("console", "--user", "alice", cwd=tmp_path, stdin=INCIDENT)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        "warroom: playbooks database-outage, default, major-incident, security-incident from "
        f"{playbooks_dir()} (shipped with warroom); no service catalog (set WARROOM_CATALOG)"
    )
    assert "[#inc-1-payments-are-down] warroom: Tasks of INC-1:" in result.stdout
    # Set on purpose to a folder that is not there: said once, no shipped playbooks instead.
    elsewhere = warroom(
        "console", cwd=tmp_path, env={"WARROOM_PLAYBOOKS": "nope"}, stdin="/incident help\n"
    )
    assert elsewhere.stderr.splitlines() == [
        "warroom: no playbooks (no folder at nope; set WARROOM_PLAYBOOKS); "
        "no service catalog (set WARROOM_CATALOG)"
    ]


def test_the_banner_names_the_catalog(tmp_path: Path) -> None:
    catalog = ROOT / "catalog.example.yaml"
    result = warroom("console", cwd=tmp_path, env={"WARROOM_CATALOG": str(catalog)})
    assert result.returncode == 0, result.stderr
    assert f"; catalog {catalog} (" in result.stderr


@pytest.mark.parametrize(
    ("command", "stdin"),
    [(("console",), None), (("console",), "/quit\n"), (("run",), None)],
)
def test_ending_a_session_is_quiet(
    command: tuple[str, ...], stdin: str | None, tmp_path: Path
) -> None:
    # The reminder ticker fires at once on start, so the session ends mid-tick.
    result = warroom(*command, cwd=tmp_path, stdin=stdin)
    assert result.returncode == 0
    assert "Traceback" not in result.stderr and "CancelledError" not in result.stderr
    assert "ERROR" not in result.stderr, result.stderr


def test_drill_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "drill", "default"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # what `| head -1` does after its line
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert first.startswith(b"Drill of playbook default")
    assert stderr == ""


def test_ctrl_c_at_the_prompt_ends_the_console(tmp_path: Path) -> None:
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "console", "--user", "alice"],
        stdin=secondary,
        stdout=secondary,
        stderr=subprocess.PIPE,
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    os.close(secondary)
    try:
        seen = b""
        while b"@alice #general> " not in seen:
            ready, _, _ = select.select([primary], [], [], 60)
            assert ready, f"no prompt; saw {seen!r}"
            seen += os.read(primary, 4096)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 130
    finally:
        if process.poll() is None:
            process.kill()
        os.close(primary)
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read().decode()


def _readme_console_example() -> tuple[str, list[str], list[str]]:
    """The README's scripted console session, the export after it, and what it says it prints."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## The console", 1)[1]
    script = re.search(r"console --user alice <<'EOF'\n(.*?)\nEOF\n(.*?)\n```", section, re.S)
    printed = re.search(r"which prints.*?\n```\n(.*?)```", section, re.S)
    assert script is not None and printed is not None
    after = [line.removeprefix(".venv/bin/warroom ") for line in script.group(2).splitlines()]
    expected = [line for line in printed.group(1).splitlines() if line != "..."]
    return script.group(1) + "\n", after, expected


@pytest.mark.parametrize("install", ["clone", "wheel"])
def test_readme_first_run_path(
    install: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pythonpath = str(request.getfixturevalue("wheel_site")) if install == "wheel" else None
    script, after, expected = _readme_console_example()
    console = warroom(
        "console", "--user", "alice", cwd=tmp_path, stdin=script, pythonpath=pythonpath
    )
    assert console.returncode == 0 and "Traceback" not in console.stderr, console.stderr
    out = re.sub(r"after \d+s\.", "after 0s.", console.stdout).splitlines()
    missing = [line for line in expected if line not in out]
    assert missing == [], console.stdout
    for command in after:  # `warroom export INC-1 -o INC-1.md`
        result = warroom(*command.split(), cwd=tmp_path, pythonpath=pythonpath)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "INC-1.md").read_text().startswith("# INC-1: Checkout returns 500s")
