"""`warroom export` and `warroom report` without SQLAlchemy, SQLModel or pydantic
(bot/readonly.py): the same output and the same recorded export as the usual path, on SQLite
and Postgres; every unusual case handed to the usual path with nothing written; the database
URL read as the Settings read it; and a whole process that imports none of those libraries."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot import readonly
from bot.__main__ import _cmd_export, _cmd_report, _login, main
from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.core.model import EventKind
from bot.core.router import Router
from bot.core.service import IncidentService, Invocation
from bot.settings import Settings, SettingsError, load_settings
from bot.store import migrate
from bot.store.schema import open_store
from bot.store.sql import SqlStore

ROOT = Path(__file__).resolve().parents[1]
EXPORTED_AT = re.compile(r"^_Exported by warroom on .* UTC\._$", re.MULTILINE)
GENERATED_AT = re.compile(r"(Generated |generated_at\": \"|^generated_at,)[0-9T:+. -]+", re.M)


async def _populate(url: str) -> None:
    store = await open_store(url)
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
        await router.handle(Invocation("bob", "console", "general"), "declare --private Leak")
    finally:
        await store.close()


async def _exports(url: str) -> list[tuple[object, ...]]:
    store = SqlStore.from_url(url)
    try:
        async with store.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT incident_number, kind, actor, text, data FROM timeline_event "
                     "WHERE kind = :kind ORDER BY id"),
                {"kind": EventKind.POSTMORTEM_EXPORTED.value},
            )  # fmt: skip
            # Plain SQL: SQLite hands JSON back as text, asyncpg as a string too.
            return [(*r[:4], json.loads(r[4]) if isinstance(r[4], str) else r[4]) for r in rows]
    finally:
        await store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    url = request.getfixturevalue(f"{request.param}_url")
    monkeypatch.setenv("WARROOM_DATABASE_URL", url)
    asyncio.run(_populate(url))
    return url


def test_export_without_sqlalchemy_writes_what_the_usual_path_writes(
    database: str, tmp_path: Path
) -> None:
    out = tmp_path / "pm.md"
    assert readonly.export("INC-1", str(out), None, _login()) == 0
    fast = out.read_text(encoding="utf-8")
    out.unlink()
    assert asyncio.run(_cmd_export(load_settings(), "INC-1", str(out))) == 0
    usual = out.read_text(encoding="utf-8")
    assert fast.startswith("# INC-1: DB down\n") and EXPORTED_AT.search(fast)
    assert EXPORTED_AT.sub("", fast) == EXPORTED_AT.sub("", usual)
    first, second = asyncio.run(_exports(database))
    assert (
        first
        == second
        == (
            1,
            "postmortem_exported",
            _login(),
            f"Postmortem exported to {out}",
            {"where": str(out)},
        )
    )


def test_export_to_stdout_and_with_a_template(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "t.j2"
    template.write_text("{{ ref }} {{ title }} took {{ ttr }}\n", encoding="utf-8")
    assert readonly.export("2", None, None, "op") == 0
    assert capsys.readouterr().out.startswith("# INC-2: Leak\n")
    assert readonly.export(" inc-1 ", None, str(template), "op") == 0
    assert capsys.readouterr() == ("INC-1 DB down took 24m 00s\n", "")
    assert [row[3] for row in asyncio.run(_exports(database))] == [
        "Postmortem exported to stdout"
    ] * 2


@pytest.mark.parametrize("fmt", ["md", "csv", "json"])
@pytest.mark.parametrize("since", [None, "2026-03-01", "2030-01-01"])
def test_report_without_sqlalchemy_prints_what_the_usual_path_prints(
    database: str, capsys: pytest.CaptureFixture[str], fmt: str, since: str | None
) -> None:
    for private in (False, True):
        assert readonly.report(since, fmt, private) == 0
        fast = capsys.readouterr().out
        assert asyncio.run(_cmd_report(load_settings(), since, fmt, private)) == 0
        usual = capsys.readouterr().out
        assert fast and GENERATED_AT.sub("", fast) == GENERATED_AT.sub("", usual)


def _unusual_cases(tmp_path: Path) -> dict[str, tuple[dict[str, str], list[str]]]:
    """name -> (environment, export arguments): each must go the usual way, which fails
    (exit status 1) for all but the last, a value pydantic takes that is not plain to us."""
    bad = tmp_path / "bad.j2"
    return {
        "no such incident": ({}, ["INC-9"]),
        "not an incident number": ({}, ["INC-x"]),
        "template that does not parse": ({}, ["1", "--template", str(bad)]),
        "template that cannot be read": ({}, ["1", "--template", str(tmp_path / "none.j2")]),
        "output that cannot be written": ({}, ["1", "-o", str(tmp_path / "no" / "pm.md")]),
        "a setting the Settings refuse": ({"WARROOM_HTTP_PORT": "http"}, ["1"]),
        "a port out of range": ({"WARROOM_HTTP_PORT": "70000"}, ["1"]),
        "a grace pydantic may parse": ({"WARROOM_SHUTDOWN_GRACE": "1e1"}, ["1"]),
    }


CASES = list(_unusual_cases(Path("/nonexistent")))


@pytest.mark.parametrize("case", CASES)
def test_unusual_exports_go_the_usual_way_with_nothing_written(
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    environ, args = _unusual_cases(tmp_path)[case]
    (tmp_path / "bad.j2").write_text("{% if %}", encoding="utf-8")
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    output = args[args.index("-o") + 1] if "-o" in args else None
    template = args[args.index("--template") + 1] if "--template" in args else None
    assert readonly.export(args[0], output, template, "op") is None
    assert capsys.readouterr() == ("", "")
    assert asyncio.run(_exports(database)) == []
    if case == CASES[-1]:
        assert main(["export", *args]) == 0
        assert asyncio.run(_exports(database))  # recorded by the usual path
        return
    assert main(["export", *args]) == 1  # and the usual path says what is wrong
    err = capsys.readouterr().err
    assert err.startswith("warroom: ") and "Traceback" not in err


def test_a_database_behind_the_migrations_is_upgraded_by_the_usual_path(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def downgrade() -> None:
        store = SqlStore.from_url(database)
        await migrate.upgrade(store.engine, "0003", downgrade=True)
        await store.close()

    asyncio.run(downgrade())
    assert readonly.export("1", None, None, "op") is None
    assert readonly.report(None, "md", False) is None
    assert main(["export", "1"]) == 0  # migrated on the way, as before
    assert capsys.readouterr().out.startswith("# INC-1: DB down\n")
    assert readonly.export("1", None, None, "op") == 0  # at head now


def test_a_database_a_newer_warroom_migrated_is_refused_in_one_line(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def newer() -> None:
        store = SqlStore.from_url(database)
        async with store.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
        await store.close()

    asyncio.run(newer())
    assert readonly.export("1", None, None, "op") is None
    assert readonly.report(None, "md", False) is None
    for command in (["export", "1"], ["report"]):
        assert main(command) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1
        assert err.startswith("warroom: the database is at schema revision '0099_future'")
    assert asyncio.run(_exports(database)) == []


def test_no_database_file_is_left_to_the_usual_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WARROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/none.db")
    assert readonly.export("1", None, None, "op") is None
    assert readonly.report(None, "md", False) is None
    assert not (tmp_path / "none.db").exists()
    assert main(["export", "1"]) == 1
    assert "there is no database at" in capsys.readouterr().err


def test_an_unreachable_postgres_is_left_to_the_usual_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WARROOM_DATABASE_URL", "postgresql+asyncpg://u:s3cret@127.0.0.1:1/x")
    assert readonly.export("1", None, None, "op") is None
    assert main(["export", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("warroom: ") and "s3cret" not in err


# -- the database URL, as the Settings read it -------------------------------------------------

URL_A, URL_B = "sqlite+aiosqlite:///a.db", "postgresql+asyncpg://u:p@h/b"
SAME, NONE = "the Settings' URL", "None"
# (environment, .env, what database_url() must give when the Settings load)
SETTINGS_CASES: list[tuple[dict[str, str], str | None, str]] = [
    ({}, None, SAME),
    ({"WARROOM_DATABASE_URL": URL_A}, None, SAME),
    ({"warroom_database_url": URL_A}, None, SAME),
    ({"DATABASE_URL": URL_A}, None, SAME),
    ({}, f"WARROOM_DATABASE_URL={URL_B}\n", SAME),
    ({}, f'export WARROOM_DATABASE_URL="{URL_B}"  # comment\n', SAME),
    ({"WARROOM_DATABASE_URL": URL_A}, f"WARROOM_DATABASE_URL={URL_B}\n", SAME),
    ({"DATABASE_URL": URL_A}, f"WARROOM_DATABASE_URL={URL_B}\n", SAME),
    ({"WARROOM_DATABASE_URL": URL_A}, f"database_url={URL_B}\n", SAME),
    ({}, "WARROOM_DATABASE_URL\n", NONE),
    ({}, "WARROOM_PLAYBOOKS\n", NONE),
    ({}, "WARROOM_DATABASE_URL=\n", NONE),
    ({"WARROOM_DATABASE_URL": "postgres://h/db"}, None, NONE),
    ({"WARROOM_DATABASE_URL": "sqlite:///a.db"}, None, NONE),
    ({"WARROOM_HTTP_PORT": "8080", "WARROOM_SHUTDOWN_GRACE": "2.5"}, None, SAME),
    ({"http_port": "8080", "shutdown_grace": "600"}, None, SAME),
    ({"WARROOM_HTTP_PORT": "0"}, None, NONE),
    ({"WARROOM_HTTP_PORT": " 80"}, None, NONE),
    ({}, "WARROOM_HTTP_PORT=x\n", NONE),
    ({"WARROOM_SHUTDOWN_GRACE": "601"}, None, NONE),
    ({"WARROOM_SHUTDOWN_GRACE": "-1"}, None, NONE),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "WARROOM_ADMINS": "a,b"}, "WARROOM_CATALOG=c.yaml\n", SAME),
]


@pytest.mark.parametrize(("environ", "env_file", "expected"), SETTINGS_CASES)
def test_the_database_url_is_the_settings_one_or_none(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
    env_file: str | None,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.lower() in readonly.CHECKED_SETTINGS]:
        monkeypatch.delenv(name)  # the field names are accepted too, in any case
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    if env_file is not None:
        Path(".env").write_text(env_file, encoding="utf-8")
    fast = readonly.database_url(os.environ, Path(readonly.ENV_FILE))
    try:
        settings = load_settings()
    except SettingsError:
        assert fast is None  # whatever the case says: a URL only when the Settings load
        return
    assert fast == (settings.database_url if expected == SAME else None)


def test_the_checked_settings_are_the_only_ones_that_can_fail() -> None:
    """database_url() vouches for the Settings loading: every field it does not check must
    take any string."""
    for name, field in Settings.model_fields.items():
        choices = field.validation_alias.choices  # type: ignore[union-attr]
        if name in readonly.CHECKED_SETTINGS:
            assert choices == [readonly.CHECKED_SETTINGS[name], name]
        else:
            assert field.annotation in (str, str | None) and not field.metadata, name
    decorators = Settings.__pydantic_decorators__
    checked = {f for d in decorators.field_validators.values() for f in d.info.fields}
    assert checked <= {"database_url"}
    assert list(decorators.model_validators) == ["_shipped_playbooks"]  # cannot fail
    assert Settings.model_config.get("env_file") == readonly.ENV_FILE


# -- a whole process --------------------------------------------------------------------------

PROBE = """\
import sys
from bot.__main__ import main
status = main(sys.argv[1:])
heavy = ("sqlalchemy", "sqlmodel", "pydantic", "pydantic_settings", "alembic", "aiosqlite",
         "asyncio", "asyncpg")
print(sorted({m.split(".")[0] for m in sys.modules if m.startswith(heavy)}), file=sys.stderr)
sys.exit(status)
"""


@pytest.mark.parametrize("command", [["export", "INC-1"], ["report", "--format", "json"]])
def test_a_whole_process_imports_neither_sqlalchemy_nor_pydantic(
    database: str, tmp_path: Path, command: list[str]
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WARROOM_DATABASE_URL": database}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    # Postgres too: a plain connection needs neither asyncio nor asyncpg (bot/store/pgwire.py).
    assert result.stderr.strip() == "[]"
    assert result.stdout.startswith("# INC-1: DB down\n" if command[0] == "export" else "{")


def test_a_postgres_connection_the_blocking_client_cannot_vouch_for_goes_over_asyncpg(
    postgres_url: str, tmp_path: Path
) -> None:
    """A PG* variable (asyncpg reads several) leaves it to asyncpg: the same postmortem."""
    asyncio.run(_populate(postgres_url))
    outputs = []
    for extra, drivers in (({}, "[]"), ({"PGAPPNAME": "warroom-test"}, "['asyncio', 'asyncpg']")):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "WARROOM_DATABASE_URL": postgres_url}
        result = subprocess.run(
            [sys.executable, "-c", PROBE, "export", "INC-1"],
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip() == drivers
        outputs.append(result.stdout.split("## Timeline")[0])  # the export's own event differs
    assert outputs[0] == outputs[1] and outputs[0].startswith("# INC-1: DB down\n")


def test_a_coroutine_that_suspends_is_refused_without_a_loop() -> None:
    async def suspends() -> int:
        await asyncio.sleep(0)
        return 0

    async def does_not() -> int:
        return 7

    assert readonly._without_loop(does_not()) == 7
    with pytest.raises(RuntimeError, match="must run on an event loop"):
        readonly._without_loop(suspends())
