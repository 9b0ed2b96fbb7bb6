"""The whole product from the outside: a piped console session, then `warroom export`, on
SQLite and on Postgres, exactly as the README shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SCRIPT = """\
# a scripted incident: comments and blank lines are ignored

/incident declare sev2 service:checkout Checkout returns 500s
/join #inc-1-checkout-returns-500s
seeing 500s on /pay since 09:58
/incident status Investigating elevated 500s on checkout
/incident sev sev1
/incident role commander @bob
/as bob
/incident role comms @carol
/incident note rolled back deploy 2024-11-02.3
/incident state identified
/incident state monitoring
/incident resolve Rollback fixed it | error rate back to 0.1%
/incident sev9
/join #general
/incident status not here
/incident show INC-7
"""


def warroom(*args: str, url: str, stdin: str = "", cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WARROOM_DATABASE_URL": url}
    env.pop("WARROOM_ANNOUNCE_CHANNEL", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        text=True,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def sync_url(url: str) -> str:
    parsed = make_url(url)
    driver = "postgresql+psycopg2" if parsed.drivername.startswith("postgresql") else "sqlite"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_scripted_incident_then_export(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    run = warroom("run", url=url, stdin=SCRIPT, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "no chat platform configured" in run.stderr and "starting the console" in run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    out = run.stdout
    assert "[#inc-1-checkout-returns-500s] warroom: INC-1: Checkout returns 500s" in out
    assert "[#general] warroom: INC-1 declared (sev2)" in out
    assert "To change the severity, type /incident sev sev1..sev4 (got 'sev9')" in out
    assert "/incident status works inside an incident channel" in out
    assert "There is no incident INC-7" in out

    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        incident = conn.execute(
            text(
                "SELECT severity, state, service, declared_by, acknowledged_at IS NOT NULL, "
                "mitigated_at IS NOT NULL, resolved_at IS NOT NULL FROM incident"
            )
        ).one()
        kinds = [
            row[0]
            for row in conn.execute(
                text("SELECT kind FROM timeline_event ORDER BY occurred_at, id")
            )
        ]
        message = conn.execute(
            text("SELECT actor, text FROM timeline_event WHERE kind = 'message'")
        ).one()
        roles = conn.execute(text('SELECT role, "user" FROM role_assignment ORDER BY id')).all()
    engine.dispose()
    login = incident[3]
    assert tuple(incident) == ("sev1", "resolved", "checkout", login, True, True, True)
    # Started from an empty folder: the shipped playbooks run (major-incident for sev2).
    assert "[#inc-1-checkout-returns-500s] warroom: Tasks of INC-1:" in out
    assert kinds == [
        "declared",
        "role_assigned",
        "task_changed",
        "message",
        "status_update",
        "severity_changed",
        "role_assigned",
        "role_assigned",
        "note",
        "state_changed",
        "state_changed",
        "state_changed",
        "resolved",
        "task_changed",
    ]
    assert tuple(message) == (login, "seeing 500s on /pay since 09:58")
    assert [tuple(r) for r in roles] == [
        ("commander", login),
        ("commander", "bob"),
        ("comms", "carol"),
    ]

    export = warroom("export", "INC-1", "-o", "pm.md", url=url, cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    markdown = (tmp_path / "pm.md").read_text()
    assert markdown.startswith("# INC-1: Checkout returns 500s\n")
    assert "| Severity | sev1 (critical) |" in markdown
    assert "> Investigating elevated 500s on checkout" in markdown
    assert "| Resolved | @bob | Rollback fixed it \\| error rate back to 0.1% |" in markdown
    assert "| Message | @" in markdown and "seeing 500s on /pay since 09:58" in markdown
    # Exporting is itself recorded.
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM timeline_event WHERE kind='postmortem_exported'")
            ).scalar()
            == 1
        )
    engine.dispose()

    # State survives a restart: a second session sees the incident and numbers on.
    again = warroom(
        "console",
        "--user",
        "dave",
        url=url,
        cwd=tmp_path,
        stdin="/incident list --all\n/incident declare Second one\n",
    )
    assert "INC-1  sev1  resolved" in again.stdout
    assert "INC-2 declared (sev3): Second one. Join #inc-2-second-one." in again.stdout


def test_cli_errors_are_one_line_without_traceback(sqlite_url: str, tmp_path: Path) -> None:
    assert warroom("db", "upgrade", url=sqlite_url, cwd=tmp_path).returncode == 0
    missing = warroom("export", "INC-3", url=sqlite_url, cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("warroom: there is no incident INC-3")
    bad_ref = warroom("export", "three", url=sqlite_url, cwd=tmp_path)
    assert bad_ref.returncode == 1 and "write it as INC-42 or 42" in bad_ref.stderr
    bad_url = warroom("db", "upgrade", url="postgresql://nowhere/db", cwd=tmp_path)
    assert bad_url.returncode == 1
    assert "WARROOM_DATABASE_URL: Value error, use postgresql+asyncpg://" in bad_url.stderr
    down = warroom("db", "upgrade", url="postgresql+asyncpg://postgres@127.0.0.1:1/x", cwd=tmp_path)
    assert down.returncode == 1 and "Check WARROOM_DATABASE_URL" in down.stderr
    for result in (missing, bad_ref, bad_url, down):
        assert "Traceback" not in result.stderr


def test_db_upgrade_reports_the_revision(sqlite_url: str, tmp_path: Path) -> None:
    result = warroom("db", "upgrade", url=sqlite_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "schema at revision" in result.stdout and "none" not in result.stdout


def test_run_on_a_port_in_use_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        env_extra = {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "secret",
            "WARROOM_HTTP_PORT": str(port),
        }
        env = {**os.environ, "WARROOM_DATABASE_URL": sqlite_url, **env_extra}
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            text=True,
            capture_output=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
    finally:
        taken.close()
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"warroom: cannot listen on port {port}: Address already in use. Stop what uses it "
        "or set WARROOM_HTTP_PORT to a free port."
    )
