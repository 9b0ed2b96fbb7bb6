"""`warroom export` and `warroom report` end to end over a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.core.router import Router
from bot.core.service import IncidentService, Invocation
from bot.store import migrate
from bot.store.sql import SqlStore


async def _populate(url: str) -> None:
    store = SqlStore.from_url(url)
    await migrate.upgrade(store.engine)
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    router = Router(IncidentService(store, {"console": ConsoleChat(lambda _: None)}, clock))
    try:
        await router.handle(Invocation("alice", "console", "general"), "declare sev1 DB down")
        here = Invocation("alice", "console", "inc-1-db-down")
        clock.advance(minutes=4)
        await router.handle(here, "status Looking <!here>")
        clock.advance(minutes=20)
        await router.handle(here, "resolve Failed over")
        await router.handle(here, "followup Test failover monthly")
    finally:
        await store.close()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/warroom.db"
    monkeypatch.setenv("WARROOM_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env from the working directory
    asyncio.run(_populate(url))
    return url


def test_export_writes_the_postmortem(database: str, tmp_path: Path) -> None:
    out = tmp_path / "pm.md"
    assert main(["export", "INC-1", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# INC-1: DB down\n")
    assert "- Time to acknowledge: 4m 00s" in text
    assert "- Time to resolve: 24m 00s" in text
    assert "- [ ] Test failover monthly (@alice," in text
    assert "<!here>" not in text and "> Looking `@here`" in text


def test_report_json(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--format", "json", "--since", "2026-03-01"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["total"]["incidents"] == 1
    assert document["total"]["tta_median_s"] == 240
    assert document["total"]["ttr_p90_s"] == 1440


def test_report_markdown_by_default(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    assert "| sev1 (critical) | 1 | 4m 00s | 4m 00s | 24m 00s | 24m 00s |" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "notadate"], "warroom: --since 'notadate' is not a date"),
        (["--format", "xml"], "warroom: --format 'xml' is not a report format"),
    ],
)
def test_report_bad_input_is_one_line(
    database: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["report", *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(message) and captured.err.count("\n") == 1


def test_export_with_a_template_file(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "pm.md.j2"
    template.write_text("{{ ref }} took {{ ttr }}\n", encoding="utf-8")
    assert main(["export", "1", "--template", str(template)]) == 0
    assert capsys.readouterr().out == "INC-1 took 24m 00s\n"
    template.write_text("{% if %}", encoding="utf-8")
    assert main(["export", "1", "--template", str(template)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"warroom: {template}: The playbook's postmortem template has an error")
    assert err.count("\n") == 1


def test_export_of_a_current_database_imports_no_alembic_and_no_platform(
    database: str, tmp_path: Path
) -> None:
    """A whole `warroom export` process is mostly imports: it loads the store and the
    postmortem renderer, not Alembic (the schema is checked by reading alembic_version), the
    chat platforms, the web server or the playbook loader."""
    probe = (
        "import sys\n"
        "from bot.__main__ import main\n"
        f"assert main(['export', 'INC-1', '-o', {str(tmp_path / 'pm.md')!r}]) == 0\n"
        "heavy = ('alembic', 'slack_bolt', 'slack_sdk', 'starlette', 'uvicorn', 'apscheduler',\n"
        "         'ruamel', 'mattermostdriver', 'prometheus_client', 'bot.app')\n"
        "print(sorted({m for m in sys.modules if m.startswith(heavy)}))\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "WARROOM_DATABASE_URL": database}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert (tmp_path / "pm.md").read_text(encoding="utf-8").startswith("# INC-1: DB down\n")
