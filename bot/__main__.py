"""`warroom` command line. Every failure a user can cause ends in one clear message and a
non-zero exit status, never a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.playbooks.errors import PlaybookCliError, PlaybookErrors
from bot.redact import Redactor, secrets_of

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger("warroom")


class CliError(Exception):
    """A failure to report as one line on stderr with exit status 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warroom",
        description="Chat-ops incident bot: channels, playbooks, timeline and postmortems.",
    )
    parser.add_argument("--version", action="version", version=f"warroom {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser(
        "run", help="start the bot on every configured platform (the console when none is)"
    )
    console = sub.add_parser(
        "console", help="incident chat in this terminal (scriptable: pipe commands on stdin)"
    )
    console.add_argument("--user", default=None, help="who you are (default: your login name)")
    console.add_argument("--channel", default="general", help="channel to start in")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="apply migrations up to the newest schema")
    db_sub.add_parser("current", help="print the schema revision of the database")

    export = sub.add_parser("export", help="write an incident's postmortem as Markdown")
    export.add_argument("incident", metavar="INCIDENT", help="INC-42 or 42")
    export.add_argument("-o", "--output", metavar="FILE", help="file to write (default: stdout)")
    export.add_argument(
        "--template", metavar="FILE", help="Jinja2 postmortem template to try (default: built-in)"
    )

    report = sub.add_parser(
        "report", help="incident metrics: counts per week/service/severity, MTTA and MTTR"
    )
    report.add_argument(
        "--since", metavar="DATE", help="only incidents declared on or after DATE (YYYY-MM-DD, UTC)"
    )
    # Checked by the command rather than argparse `choices`, so a wrong value is one line.
    report.add_argument(
        "--format", default="md", metavar="md|csv|json", help="output format (default: md)"
    )
    report.add_argument(
        "--include-private",
        action="store_true",
        help="name private incidents (titles, services); by default they are only counted",
    )

    playbook = sub.add_parser("playbook", help="check playbooks and print their JSON Schema")
    pb_sub = playbook.add_subparsers(dest="playbook_command", metavar="ACTION", required=True)
    lint = pb_sub.add_parser(
        "lint", help="report every problem as file:line:col: message (exit 1 if any)"
    )
    lint.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or folders (default: WARROOM_PLAYBOOKS)"
    )
    pb_sub.add_parser("schema", help="print the playbook JSON Schema (for editors)")
    pb_import = pb_sub.add_parser(
        "import", help="convert a Mattermost Playbooks export (JSON) to a warroom playbook"
    )
    pb_import.add_argument("file", metavar="FILE.json", help="the exported playbook")
    pb_import.add_argument(
        "-o", "--output", metavar="OUT.yaml", help="write here (default: standard output)"
    )

    catalog = sub.add_parser("catalog", help="check the service catalog")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    catalog_lint = catalog_sub.add_parser(
        "lint", help="report every problem as file:line:col: message (exit 1 if any)"
    )
    catalog_lint.add_argument(
        "path", nargs="?", metavar="PATH", help="catalog YAML (default: WARROOM_CATALOG)"
    )
    catalog_lint.add_argument(
        "--coverage",
        action="store_true",
        help="also list services without an owner, on-call gaps, policies ending in nobody",
    )
    catalog_lint.add_argument(
        "--days", type=int, default=14, metavar="N", help="how far ahead to look for gaps (14)"
    )

    oncall = sub.add_parser(
        "oncall",
        help="who is on call for a team or service (first line: the person); "
        "`oncall ical TEAM` prints the rotation as iCalendar",
    )
    oncall.add_argument("target", nargs="+", metavar="TEAM|SERVICE", help="or: ical TEAM")
    oncall.add_argument("--at", metavar="TIME", help="ISO time, e.g. 2027-03-29T07:30:00Z")
    oncall.add_argument("--days", type=int, default=28, help="ical: days ahead to export (28)")

    alerts = sub.add_parser("alerts", help="check the alert routing rules")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    alerts_lint = alerts_sub.add_parser(
        "lint", help="report every problem as file:line:col: message (exit 1 if any)"
    )
    alerts_lint.add_argument(
        "path", nargs="?", metavar="PATH", help="rules YAML (default: WARROOM_ALERT_RULES)"
    )

    drill = sub.add_parser(
        "drill", help="play an incident through a playbook in this terminal, time compressed"
    )
    drill.add_argument("playbook", metavar="PLAYBOOK", help="a playbook name or YAML file")
    drill.add_argument(
        "--speed",
        type=float,
        default=0,
        metavar="N",
        help="simulated seconds per real second (default 0: no waiting)",
    )

    slack = sub.add_parser("slack", help="Slack app setup")
    slack_sub = slack.add_subparsers(dest="slack_command", metavar="ACTION", required=True)
    manifest = slack_sub.add_parser(
        "manifest", help="print the Slack app manifest (JSON) for this configuration"
    )
    manifest.add_argument(
        "--url", help="public base URL of this bot, e.g. https://warroom.example.com"
    )
    manifest.add_argument(
        "--socket-mode",
        action="store_true",
        default=None,
        help="manifest for Socket Mode (default: when SLACK_APP_TOKEN is set)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if (status := _read_only(args)) is not None:
            return status
        return _main(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0


def _read_only(args: argparse.Namespace) -> int | None:
    """Most exports and reports need none of SQLAlchemy, SQLModel or pydantic (bot/readonly.py).
    None: not a plain case and nothing written yet, so the command runs the usual way."""
    if args.command == "export":
        from bot import readonly

        return readonly.export(args.incident, args.output, args.template, _login())
    if args.command == "report":
        from bot import readonly

        return readonly.report(args.since, args.format, args.include_private)
    return None


def _main(args: argparse.Namespace) -> int:
    from bot.settings import SettingsError, load_settings

    settings = None
    try:
        settings = load_settings()
        return _run(_dispatch(args, settings))
    except (SettingsError, CliError, PlaybookCliError) as error:
        # A driver's message may carry a URL or a token: never print a configured secret.
        shown = Redactor(secrets_of(settings) if settings else ())(str(error))
        print(f"warroom: {shown}", file=sys.stderr)
        return 1
    except PlaybookErrors as error:
        print(
            f"{error}\nwarroom: not starting: fix the {error.what} problems above "
            f"(check with `warroom {error.what} lint`).",
            file=sys.stderr,
        )
        return 1


def _run(coro: Coroutine[Any, Any, int]) -> int:
    import asyncio

    try:
        return asyncio.run(coro)
    except BrokenPipeError:
        raise
    except OSError as error:
        # Most often: the database server is down or the URL points at the wrong place.
        raise CliError(
            f"{error}. Check WARROOM_DATABASE_URL and that the database is running."
        ) from None


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    match args.command:
        case "run":
            return await _cmd_run(settings)
        case "console":
            return await _cmd_console(settings, args.user, args.channel)
        case "db":
            return await _cmd_db(settings, args.db_command)
        case "export":
            return await _cmd_export(settings, args.incident, args.output, args.template)
        case "report":
            return await _cmd_report(settings, args.since, args.format, args.include_private)
        case "playbook":
            from bot.playbooks import cli

            if args.playbook_command == "schema":
                return cli.schema()
            if args.playbook_command == "import":
                return cli.import_playbook(args.file, args.output)
            return cli.lint(args.paths, settings.playbooks)
        case "catalog":
            from bot.playbooks import cli

            return cli.lint_catalog(
                args.path or settings.catalog, coverage=args.coverage, days=args.days
            )
        case "alerts":
            from bot.playbooks import cli

            return cli.lint_alert_rules(args.path or settings.alert_rules, settings.catalog)
        case "oncall":
            from bot.playbooks import cli

            return cli.oncall(settings.catalog, args.target, args.at, args.days)
        case "drill":
            return await _cmd_drill(settings, args.playbook, args.speed)
        case "slack":
            return _cmd_slack_manifest(settings, args.url, args.socket_mode)
    raise AssertionError(args.command)


async def _cmd_run(settings: Settings) -> int:
    if problems := settings.platform_problems():
        # Half a platform is a mistake, not a wish for the console: say what is missing.
        raise CliError(f"not starting: {'; '.join(problems)}.")
    if not (settings.slack_configured or settings.mattermost_configured):
        print(
            "warroom: no chat platform configured (set SLACK_BOT_TOKEN and "
            "SLACK_SIGNING_SECRET, SLACK_APP_TOKEN, or MATTERMOST_URL and MATTERMOST_TOKEN); "
            "starting the console.",
            file=sys.stderr,
        )
        return await _cmd_console(settings, None, "general")
    from bot.app import build_app, configured_platforms
    from bot.server import listen, serve

    try:
        sock = listen(settings.http_port)
    except OSError as error:
        raise CliError(
            f"cannot listen on port {settings.http_port}: {error.strerror}. Stop what uses it "
            "or set WARROOM_HTTP_PORT to a free port."
        ) from None
    app = await _with_db_errors(build_app(settings))
    print(f"warroom: {app.sources}", file=sys.stderr)
    stopping = False
    try:
        for platform in configured_platforms(app):
            app.add_platform(platform)
        # What a crash left unhandled in the inbox (acknowledged, so Slack will not send it
        # again) is handled before anything new; interrupted chat set-ups are just outbox
        # rows, delivered by whichever replica gets to them.
        replayed = await app.replay()
        if replayed:
            print(
                f"warroom: handling {replayed} events left from before a restart", file=sys.stderr
            )
        app.start_reminders()
        await serve(app, sock)
        stopping = True
    finally:
        await app.close(settings.shutdown_grace if stopping else 0.0)
    return 0


async def _cmd_console(settings: Settings, user: str | None, channel: str) -> int:
    from bot.app import build_console_app
    from bot.chat.console.output import Output
    from bot.chat.console.session import ConsoleSession

    console = build_console_app(settings, write=Output(), files=Path.cwd())
    app, chat = await _with_db_errors(console)
    print(f"warroom: {app.sources}", file=sys.stderr)
    try:
        app.start_reminders()
        session = ConsoleSession(
            app.router, chat, user=_console_user(user), channel=channel.lstrip("#")
        )
        if sys.stdin.isatty():
            print(
                f"warroom console on {_redact(settings.database_url)}: you are @{session.user} "
                f"in #{session.channel}. /help for console commands, /incident help for "
                "incident commands."
            )
        await session.run()
    finally:
        await app.close()
    return 0


async def _cmd_db(settings: Settings, action: str) -> int:
    from bot.store import migrate
    from bot.store.sql import SqlStore

    store = SqlStore.from_url(settings.database_url)
    try:
        if action == "upgrade":
            await _with_db_errors(migrate.upgrade(store.engine))
        revision = await _with_db_errors(migrate.current_revision(store.engine))
        print(f"{_redact(settings.database_url)}: schema at revision {revision or 'none'}")
    finally:
        await store.close()
    return 0


async def _cmd_export(
    settings: Settings, ref: str, output: str | None, template_path: str | None = None
) -> int:
    import asyncio

    from bot.core.clock import SystemClock
    from bot.core.commands import UsageError, parse_incident_number
    from bot.core.postmortem import PostmortemTemplateError, render_postmortem
    from bot.core.service import IncidentService
    from bot.store.schema import open_store  # not bot.app: export loads no platform

    try:
        number = parse_incident_number(ref)
    except UsageError as error:
        raise CliError(str(error)) from None
    template = None
    if template_path:
        try:
            template = await asyncio.to_thread(Path(template_path).read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CliError(f"cannot read {template_path}: {error}") from None
    _require_database(settings)
    store = await _with_db_errors(open_store(settings.database_url))
    try:
        service = IncidentService(store, {}, SystemClock())
        try:
            record = await service.record(number)
        except UsageError:
            raise CliError(
                f"there is no incident INC-{number} in {_redact(settings.database_url)}."
            ) from None
        try:
            markdown = render_postmortem(record, service.clock.now(), template)
        except PostmortemTemplateError as error:
            raise CliError(f"{template_path}: {error}") from None
        if output:
            try:
                await asyncio.to_thread(Path(output).write_text, markdown, encoding="utf-8")
            except OSError as error:
                raise CliError(f"cannot write {output}: {error.strerror}") from None
            print(f"wrote {record.incident.ref} postmortem to {output}", file=sys.stderr)
        else:
            sys.stdout.write(markdown)
        await service.mark_exported(record.incident, _login(), output or "stdout")
    finally:
        await store.close()
    return 0


async def _cmd_report(
    settings: Settings, since_text: str | None, format_name: str, include_private: bool = False
) -> int:
    from bot.core.clock import SystemClock
    from bot.core.report import build_report, formatter, parse_since
    from bot.store.alerts import SqlAlerts
    from bot.store.schema import open_store

    # Bad arguments fail before the database is touched.
    try:
        render = formatter(format_name)
        since = parse_since(since_text) if since_text is not None else None
    except ValueError as error:
        raise CliError(str(error)) from None
    _require_database(settings)
    store = await _with_db_errors(open_store(settings.database_url))
    try:
        incidents = await _with_db_errors(store.incidents_declared_since(since))
        first_alerts = await _with_db_errors(
            SqlAlerts(store).first_alerts([i.number for i in incidents])
        )
        report = build_report(
            incidents, SystemClock().now(), since, first_alerts, include_private=include_private
        )
        sys.stdout.write(render(report))
    finally:
        await store.close()
    return 0


async def _cmd_drill(settings: Settings, name: str, speed: float) -> int:
    from bot.playbooks.cli import find_playbook
    from bot.playbooks.drill import run_drill

    if speed < 0:
        raise CliError("--speed must be 0 (no waiting) or more")
    from bot.chat.console.output import Output

    catalog = None
    if settings.catalog:
        from bot.playbooks.catalog_loader import load_catalog

        catalog = load_catalog(settings.catalog)
    await run_drill(find_playbook(name, settings.playbooks), Output(), speed=speed, catalog=catalog)
    return 0


def _cmd_slack_manifest(settings: Settings, url: str | None, socket_mode: bool | None) -> int:
    import json

    from bot.chat.slack.manifest import manifest

    if socket_mode is None:
        socket_mode = bool(settings.slack_app_token)
    url = url or settings.public_url
    if not socket_mode:
        _check_public_url(url)
    print(json.dumps(manifest(url, socket_mode=socket_mode), indent=2))
    return 0


def _check_public_url(url: str | None) -> None:
    """Slack calls the manifest's URLs over HTTPS only; a made-up or schemeless one would
    give an app that silently never reaches this bot."""
    from urllib.parse import urlsplit

    if not url:
        raise CliError(
            "slack manifest needs --url https://HOST (where Slack reaches this bot; or set "
            "WARROOM_PUBLIC_URL), or --socket-mode for an app without a public URL."
        )
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise CliError(
            f"--url {url!r} is not an https:// URL: Slack only calls HTTPS, write it like "
            "https://warroom.example.com"
        )


async def _with_db_errors(coro: Coroutine[Any, Any, Any]) -> Any:
    from sqlalchemy.exc import DBAPIError, OperationalError

    from bot.store.schema import UnknownRevision

    try:
        return await coro
    except UnknownRevision as error:
        raise CliError(str(error)) from None
    except (OperationalError, DBAPIError) as error:
        reason = str(error.orig) if error.orig else str(error)
        raise CliError(
            f"database error: {reason.strip().splitlines()[0]}. Check "
            "WARROOM_DATABASE_URL and that the database is running."
        ) from None


def _require_database(settings: Settings) -> None:
    """Reading commands must not create an empty SQLite file and then report on nothing."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    path = url.database or ""
    if url.get_backend_name() == "sqlite" and path not in ("", ":memory:"):
        if not path.startswith("file:") and not Path(path).exists():
            raise CliError(
                f"there is no database at {Path(path).absolute()}: run this where the console "
                "or the bot ran, or set WARROOM_DATABASE_URL to its database."
            )


def _console_user(user: str | None) -> str:
    from bot.core.commands import UsageError, parse_user

    try:
        return parse_user(user.strip()) if user is not None else _login()
    except UsageError:
        raise CliError(f"--user {user!r} is not a user name: write it as alice or @alice") from None


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def _redact(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the configured database"


if __name__ == "__main__":
    sys.exit(main())
