"""The console and the shipped playbooks as a first-time user meets them (issue 12, points
7-12): the whole app on SQLite, a scripted ConsoleSession, the lines it prints."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.app import build_console_app
from bot.chat.console.session import ConsoleSession
from bot.core.clock import ManualClock
from bot.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


class Session:
    def __init__(self, tmp_path: Path, **settings: str) -> None:
        self.tmp_path = tmp_path
        self.lines: list[str] = []
        self.settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/w.db", **settings
        )
        self.clock = ManualClock()

    async def run(self, script: str, user: str = "alice", **files: Path) -> list[str]:
        app, chat = await build_console_app(
            self.settings, clock=self.clock, write=self.lines.append, **files
        )
        self.app = app
        try:
            session = ConsoleSession(app.router, chat, user=user)
            await session.run(io.StringIO(script))
            pending = await app.service.runner.reminders.pending(1)  # type: ignore[union-attr]
            self.pending = sorted(r.kind for r in pending)
            self.paged = [
                e.text
                for e in (await app.store.timeline(1) if await app.store.get_incident(1) else [])
                if e.kind.value == "paged"
            ]
        finally:
            await app.close()
        return self.lines


async def test_default_playbook_raised_to_sev1_keeps_update_reminders(tmp_path: Path) -> None:
    s = Session(tmp_path)
    lines = await s.run(
        "/incident declare sev3 Slow search\n/join #inc-1-slow-search\n/incident sev sev1\n"
        "/incident role comms @carol\n"
    )
    assert "status_update" in s.pending
    out = "\n".join(lines)
    assert "consider /incident role comms @someone" in out
    assert "carol is now comms (assigned by alice)." in out
    assert "Unknown role" not in out


async def test_piped_declare_form_shows_its_questions(tmp_path: Path) -> None:
    lines = await Session(tmp_path).run("/incident declare\nPayments down\nsev2\ncheckout\nn\n")
    assert lines[:4] == [
        "[#general] (console) Title: Payments down",
        "[#general] (console) Severity sev1..sev4 [sev3]: sev2",
        "[#general] (console) Service (optional): checkout",
        "[#general] (console) Private? [y/N]: n",
    ]
    assert "[#general] warroom: INC-1 declared (sev2): Payments down." in "\n".join(lines)


async def test_terminal_declare_form_asks_again_after_a_wrong_severity(tmp_path: Path) -> None:
    s = Session(tmp_path)
    app, chat = await build_console_app(s.settings, clock=s.clock, write=s.lines.append)
    try:
        session = ConsoleSession(app.router, chat, user="alice")
        session.interactive = True
        answers = iter(["Payments down", "sev9", "sev2", "", "n"])

        async def read(prompt: str) -> str:
            return next(answers)

        declare = await session.form(read)
    finally:
        await app.close()
    assert declare is not None and declare.severity.value == "sev2"
    assert any("Unknown severity 'sev9'" in line for line in s.lines)
    assert not any("cancelled" in line for line in s.lines)


async def test_paging_says_what_happened_every_time(tmp_path: Path) -> None:
    s = Session(tmp_path, catalog=str(ROOT / "catalog.example.yaml"))
    lines = await s.run(
        "/incident declare sev3 service:database Replication lag\n"
        "/join #inc-1-replication-lag\n"
        "/incident page database\n"
        "/incident page dba\n"
        "/incident page @bob\n"
        "/incident page @bob\n"
    )
    # Every page attempt says what happened: a repeat within the window is recorded, not sent.
    after_join = lines[
        lines.index("[#inc-1-replication-lag] (console) you are in #inc-1-replication-lag") :
    ]
    assert after_join == [
        "[#inc-1-replication-lag] (console) you are in #inc-1-replication-lag",
        "[#inc-1-replication-lag] warroom: dave was paged 0s ago: recorded, not sent again.",
        "[#inc-1-replication-lag] warroom: dave was paged 0s ago: recorded, not sent again.",
        "[#inc-1-replication-lag] (@bob added)",
        "[@bob] (direct message) warroom: alice paged you into INC-1 (sev3): Replication lag. "
        "Join #inc-1-replication-lag. Press Acknowledge (or type /incident ack there) to stop "
        "the escalation. [Acknowledge]",
        "[#inc-1-replication-lag] warroom: alice paged bob into this incident.",
        "[#inc-1-replication-lag] warroom: bob was paged 0s ago: recorded, not sent again.",
    ]
    sent = [text for text in s.paged if "not sent again" not in text]
    assert sent == ["Paged dave", "Paged bob"]


async def test_console_postmortem_writes_the_file_and_says_where(tmp_path: Path) -> None:
    lines = await Session(tmp_path).run(
        "/incident declare sev3 Slow search\n/join #inc-1-slow-search\n/incident postmortem\n",
        files=tmp_path,
    )
    path = tmp_path / "inc-1-postmortem.md"
    assert path.read_text().startswith("# INC-1: Slow search")
    assert any(line.endswith(f"bytes, written to {path})") for line in lines)


async def test_one_no_catalog_warning_for_the_security_playbook(tmp_path: Path) -> None:
    lines = await Session(tmp_path).run("/incident declare sev2 label:security Leaked key\n")
    warnings = [line for line in lines if "there is no service catalog" in line]
    assert len(warnings) == 1 and "bring in security," in warnings[0]


async def test_database_outage_announcement_reads_well(tmp_path: Path) -> None:
    lines = await Session(tmp_path).run("/incident declare sev2 service:database DB down\n")
    assert "database database" not in "\n".join(lines)
    assert (
        "[#inc-1-db-down] warroom: INC-1: the primary database (service database) is affected. "
        "Dependent services may be degraded."
    ) in lines


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (
            "/incident declare label:nope Thing",
            "Unknown label 'nope'. Labels the playbooks use: security.",
        ),
        ("/incident declare sev2 sev3 Two sevs", "Two severities (sev2 and sev3): give one."),
        ("/join #nope", "(console) you are in #nope, a new channel (see /channels for the others)"),
    ],
)
async def test_input_is_never_taken_silently(line: str, says: str, tmp_path: Path) -> None:
    lines = await Session(tmp_path).run(line + "\n")
    assert any(says in out for out in lines), lines
    assert not any("declared" in out for out in lines)


def test_console_user_with_an_at_sign(tmp_path: Path, monkeypatch, capsys) -> None:
    from bot.__main__ import main

    monkeypatch.setenv("WARROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/w.db")
    monkeypatch.setattr("sys.stdin", io.StringIO("/whoami\n"))
    assert main(["console", "--user", "@bob"]) == 0
    assert "[#general] (console) you are @bob in #general" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["console", "--user", "<bob>"]) == 1
    assert "--user '<bob>' is not a user name" in capsys.readouterr().err


def test_bad_catalog_says_catalog(tmp_path: Path, monkeypatch, capsys) -> None:
    from bot.__main__ import main

    bad = tmp_path / "c.yaml"
    bad.write_text("teams: [1]\n")
    monkeypatch.setenv("WARROOM_CATALOG", str(bad))
    monkeypatch.setenv("WARROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/w.db")
    assert main(["console"]) == 1
    err = capsys.readouterr().err
    assert "fix the catalog problems above (check with `warroom catalog lint`)" in err
    assert "playbook" not in err


async def test_drill_uses_the_catalog(tmp_path: Path) -> None:
    from bot.playbooks.catalog_loader import load_catalog
    from bot.playbooks.cli import find_playbook
    from bot.playbooks.drill import run_drill

    lines: list[str] = []
    loaded = find_playbook("database-outage", str(ROOT / "playbooks"))
    await run_drill(loaded, lines.append, catalog=load_catalog(ROOT / "catalog.example.yaml"))
    out = "\n".join(lines)
    assert "no service catalog" not in out
    assert "Paging dba (owner of database) on call: @dave." in out
