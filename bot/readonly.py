"""`warroom export` and `warroom report` in a fraction of the time: no SQLAlchemy, SQLModel,
pydantic or Alembic.

Importing those costs a second or more on a loaded 2-core machine, several times what the
rest of an export takes. So `bot/__main__.py` first tries this path, which reads the database
URL from the environment (and `.env`) as the Settings would, checks the schema revision with
a plain SELECT on alembic_version and reads with the driver alone (bot/store/raw.py): the
standard library's sqlite3, or for Postgres a blocking socket speaking the protocol
(bot/store/pgwire.py), without asyncio or asyncpg, unless the connection is not a plain one.

It takes only the plain, successful case. Whenever anything is out of the ordinary (a setting
it cannot vouch for, a URL with options, no database file, a schema not at head, no such
incident, a bad argument, a template that does not render, a file that cannot be written) it
returns None before it has written anything, and the command runs the usual way, which says
what is wrong in its own words (or migrates). So both paths give the same messages by
construction.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.model import INCIDENT_REF, EventKind, Incident, IncidentRecord, TimelineEvent
from bot.redact import Redactor, url_password
from bot.shipped import migrations_dir
from bot.store.raw import (
    PostgresRecords,
    SqliteRecords,
    WireRecords,
    postgres_dsn,
    sqlite_path,
)
from bot.store.revision import head_revision

if TYPE_CHECKING:
    from bot.store.pgwire import WireParams

log = logging.getLogger("warroom")

# The settings an export depends on, or that can make the Settings fail to load: each field
# with its environment name (bot/settings.py `_env`: the field name is accepted too). Every
# other field is an optional string that any value satisfies (tests/test_readonly.py).
CHECKED_SETTINGS = {
    "database_url": "WARROOM_DATABASE_URL",
    "http_port": "WARROOM_HTTP_PORT",
    "shutdown_grace": "WARROOM_SHUTDOWN_GRACE",
}
ENV_FILE = ".env"
_PORT = re.compile(r"^[0-9]{1,5}$")
_SECONDS = re.compile(r"^[0-9]{1,3}(?:\.[0-9]+)?$")


def raw_settings(environ: Mapping[str, str], env_file: Path) -> dict[str, str] | None:
    """CHECKED_SETTINGS' values as pydantic-settings would hand them to validation: names
    are case-insensitive, each source (the environment, then `.env`) gives the first of a
    field's names it has, the environment wins over the file for the same name, and the
    field takes the first of its names found in the merged result. None: not plain."""
    sources = [{name.lower(): value for name, value in environ.items()}]
    if env_file.is_file():
        from dotenv import dotenv_values  # what pydantic-settings reads .env with

        in_file = dotenv_values(env_file)
        if None in in_file.values():  # a name without a value: let the Settings judge it
            return None
        sources.append({name.lower(): value or "" for name, value in in_file.items()})
    values: dict[str, str] = {}
    for field, env_name in CHECKED_SETTINGS.items():
        names = (env_name.lower(), field)
        merged: dict[str, str] = {}
        for source in reversed(sources):  # lowest priority first
            name = next((name for name in names if name in source), None)
            if name is not None:
                merged[name] = source[name]
        chosen = next((name for name in names if name in merged), None)
        if chosen is not None:
            values[field] = merged[chosen]
    return values


def database_url(environ: Mapping[str, str], env_file: Path) -> str | None:
    """The database URL when the Settings would load and give it; None when that is not
    plain to see (then the Settings decide, and report what is wrong)."""
    values = raw_settings(environ, env_file)
    if values is None:
        return None
    port = values.get("http_port", "3000")
    grace = values.get("shutdown_grace", "20")
    if not _PORT.match(port) or not 1 <= int(port) <= 65535:
        return None
    if not _SECONDS.match(grace) or not 0 <= float(grace) <= 600:
        return None
    url = values.get("database_url", "sqlite+aiosqlite:///warroom.db")
    return url if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")) else None


class Records(Protocol):
    """What the commands need of a database (bot/store/raw.py: SQLite and Postgres)."""

    async def revision(self) -> str | None: ...
    async def record(self, number: int) -> IncidentRecord | None: ...
    async def incidents(self, since: datetime | None) -> list[Incident]: ...
    async def first_alerts(self, numbers: list[int]) -> dict[int, datetime]: ...
    async def add_event(self, event: TimelineEvent) -> None: ...
    async def close(self) -> None: ...


# A command: given an open database at head, its exit status or None (fall back).
Command = Callable[[Records], Coroutine[Any, Any, int | None]]


def export(ref: str, output: str | None, template_path: str | None, user: str) -> int | None:
    """`warroom export`'s exit status, or None: then nothing was written, run it the usual
    way. A failure after the postmortem was written is reported here (exit status 1)."""
    match = INCIDENT_REF.match(ref.strip())
    if match is None:
        return None
    template = None
    if template_path:
        try:
            template = Path(template_path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    job = _Export(int(match.group(1)), template, output, user)
    return _on_database(job.run)


def report(since_text: str | None, format_name: str, include_private: bool) -> int | None:
    """`warroom report`'s exit status, or None: run it the usual way."""
    from bot.core.report import build_report, formatter, parse_since

    try:
        render = formatter(format_name)
        since = parse_since(since_text) if since_text is not None else None
    except ValueError:
        return None

    async def run(records: Records) -> int:
        incidents = await records.incidents(since)
        first_alerts = await records.first_alerts([i.number for i in incidents])
        now = datetime.now(UTC)
        found = build_report(incidents, now, since, first_alerts, include_private=include_private)
        sys.stdout.write(render(found))
        return 0

    return _on_database(run)


def _on_database(command: Command) -> int | None:
    url = database_url(os.environ, Path(ENV_FILE))
    head = head_revision(migrations_dir() / "versions")
    if url is None or head is None:
        return None
    if (path := sqlite_path(url)) is not None:
        return _without_loop(_sqlite(path, url, head, command)) if path.is_file() else None
    if (dsn := postgres_dsn(url)) is not None:
        from bot.store.pgwire import wire_params  # a socket, not asyncio (SQLite needs neither)

        if (params := wire_params(dsn, os.environ)) is not None:
            status = _without_loop(_wire(params, url, head, command))
            if status is not _WITH_ASYNCPG:
                return status  # type: ignore[return-value]
        import asyncio  # only for what the blocking client leaves to asyncpg

        return asyncio.run(_postgres(dsn, url, head, command))
    return None


_WITH_ASYNCPG = object()  # _wire: not a case for the blocking client, connect with asyncpg


def _without_loop(coro: Coroutine[Any, Any, int | None]) -> int | None:
    """Run a coroutine that never suspends (SQLite's methods are plain calls): importing
    asyncio and starting a loop would cost more than the whole query."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("an SQLite read suspended: it must run on an event loop")


async def _sqlite(path: Path, url: str, head: str, command: Command) -> int | None:
    import sqlite3

    try:
        records = SqliteRecords(path)
    except sqlite3.Error:
        return None
    return await _guarded(records, url, head, command)


async def _wire(params: WireParams, url: str, head: str, command: Command) -> object:
    """Postgres without asyncio (bot/store/pgwire.py), or _WITH_ASYNCPG before anything is
    read when the connection is not a plain one."""
    from bot.store.pgwire import NotPlain

    try:
        records = WireRecords.connect(params)
    except NotPlain as reason:
        log.debug("export/report: %s; connecting with asyncpg", reason)
        return _WITH_ASYNCPG
    except TimeoutError as error:
        return _Failed(str(error)).report(url)  # as _postgres: do not wait a second time
    except Exception as error:  # refused, bad password, no such database: the usual path says so
        log.debug("export/report without SQLAlchemy: cannot connect: %r", error)
        return None
    return await _guarded(records, url, head, command)


async def _postgres(dsn: str, url: str, head: str, command: Command) -> int | None:
    try:
        records = await PostgresRecords.connect(dsn)
    except TimeoutError as error:
        # Worded as bot/__main__.py _run words it, rather than waiting out the connect
        # timeout a second time on the usual path.
        return _Failed(str(error)).report(url)
    except Exception as error:  # refused, bad password, no such database: the usual path says so
        log.debug("export/report without SQLAlchemy: cannot connect: %r", error)
        return None
    return await _guarded(records, url, head, command)


async def _guarded(records: Records, url: str, head: str, command: Command) -> int | None:
    try:
        if await records.revision() != head:
            return None
        return await command(records)
    except _Failed as failed:
        return failed.report(url)
    except BrokenPipeError:
        raise  # the output was cut off: bot/__main__.py ends quietly
    except Exception as error:  # a read failed before anything was written: the usual path
        log.debug("export/report without SQLAlchemy: %r; the usual way instead", error)
        return None
    finally:
        await records.close()


class _Failed(Exception):
    """The database failed after output was written: report it, do not start again."""

    def report(self, url: str) -> int:
        redact = Redactor([p for p in [url_password(url)] if p])
        print(
            f"warroom: {redact(str(self))}. Check WARROOM_DATABASE_URL and that the database "
            "is running.",
            file=sys.stderr,
        )
        return 1


@dataclass(frozen=True)
class _Export:
    number: int
    template: str | None
    output: str | None
    user: str

    async def run(self, records: Records) -> int | None:
        record = await records.record(self.number)
        if record is None or not self.deliver(record):
            return None
        try:
            await records.add_event(self.exported_event())
        except Exception as error:  # sqlite3.Error, asyncpg's errors, OSError
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise _Failed(f"database error: {reason}") from None
        return 0

    def deliver(self, record: IncidentRecord) -> bool:
        """Render and write the postmortem; False (nothing written) if either fails."""
        from bot.core.postmortem import PostmortemTemplateError, render_postmortem

        try:
            markdown = render_postmortem(record, datetime.now(UTC), self.template)
        except PostmortemTemplateError:
            return False
        if self.output:
            try:
                Path(self.output).write_text(markdown, encoding="utf-8")
            except OSError:
                return False
            print(f"wrote {record.incident.ref} postmortem to {self.output}", file=sys.stderr)
        else:
            sys.stdout.write(markdown)
        return True

    def exported_event(self) -> TimelineEvent:
        """What IncidentService.mark_exported records (bot/core/sharing.py)."""
        where = self.output or "stdout"
        return TimelineEvent(
            self.number,
            EventKind.POSTMORTEM_EXPORTED,
            self.user,
            f"Postmortem exported to {where}",
            occurred_at=datetime.now(UTC),
            recorded_at=datetime.now(UTC),
            data={"where": where},
        )
