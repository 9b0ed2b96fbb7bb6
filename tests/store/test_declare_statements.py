"""How many SQL statements one declaration's transaction runs (issues #10 and #13), durable (an
outbox) and direct, on SQLite and Postgres: each costs a round trip (on SQLite a thread
hand-off), so this fails if one that a fresh declaration does not need comes back. The
declaration is bench/durable.py's: `/incident declare sev3 ...` with the shipped `default`
playbook (a checklist of three tasks, two due, and the status reminder)."""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.authorization import AuthorizeResult
from slack_peer import BOT_TOKEN, RecordingSleep, SlackPeer
from sqlalchemy import event

from bot.app import App, build_app
from bot.chat.slack.platform import build_slack_platform
from bot.core.clock import ManualClock
from bot.core.model import Invocation
from bot.settings import Settings

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
ALICE = Invocation("U0ALICE001", "slack", "C0GENERAL1")

# The declaration's statements besides the outbox's, by (verb, table): the incident (its
# number a sub-select of the INSERT), its two first events, commander and participants; the
# checklist's event, its tasks in one INSERT and the reminders in one; the incident row once,
# at the end, with the channel, summary and checklist ids. No reads: the declaration knows
# what it wrote (before issue #13's diet: 26 statements on the direct path, 33 durable).
EXPECTED = Counter(
    {
        ("INSERT", "incident"): 1,
        ("INSERT", "timeline_event"): 2,
        ("INSERT", "role_assignment"): 1,
        ("INSERT", "participant"): 1,
        ("INSERT", "task"): 1,
        ("INSERT", "reminder"): 1,
        ("UPDATE", "incident"): 1,
    }
)
# Create the channel, invite, topic, summary, pin, announcement, checklist: seven rows, held
# back and written together (bot/store/outbox.py): the first row at once (it takes SQLite's
# write lock; on Postgres the announcement's shared lane is not held back), the rest in one
# statement. On Postgres the held rows' ids are reserved from the sequence by one SELECT.
OUTBOX_STATEMENTS = 2

_TABLE = re.compile(r"^(?:INSERT INTO|UPDATE|DELETE FROM|SELECT .*? FROM)\s+\"?(\w+)", re.S)


def kind(statement: str) -> tuple[str, str]:
    verb = statement.split(None, 1)[0].upper()
    found = _TABLE.match(statement.strip())
    return verb, found.group(1) if found and verb in {
        "INSERT",
        "UPDATE",
        "DELETE",
        "SELECT",
    } else ""


async def authorize(enterprise_id: Any, team_id: Any, user_id: Any) -> AuthorizeResult:
    return AuthorizeResult(enterprise_id=None, team_id="T1", bot_token=BOT_TOKEN)


@pytest.fixture
async def peer() -> AsyncIterator[SlackPeer]:
    async with SlackPeer() as running:
        yield running


async def make(url: str, peer: SlackPeer, *, durable: bool) -> App:
    folder = tempfile.mkdtemp(prefix="warroom-test-")
    settings = Settings(
        database_url=url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret="secret",
        slack_api_url=peer.api_url,
        announce_channel="C0ANNOUNCE",
        playbooks=str(PLAYBOOKS),
        journal=f"{folder}/journal.jsonl",
        _env_file=None,
    )
    app = await build_app(settings, clock=ManualClock())
    if not durable:
        app.outbox = None  # chat calls inline, in the command's transaction
        app.router.deliveries = None
    app.add_platform(build_slack_platform(app, authorize=authorize, sleep=RecordingSleep()))
    return app


async def transaction_of_a_declaration(app: App) -> list[str]:
    """The statements of the second declaration's transaction (the first warms up), in order,
    up to its commit: those on the connection that ran its first statement."""
    await app.router.handle(ALICE, "declare sev3 Warm up")
    if app.outbox is not None:
        await app.outbox.deliver_due()
    seen: list[tuple[object, str]] = []

    def executed(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append((conn, " ".join(statement.split())))

    def committed(conn: Any) -> None:
        seen.append((conn, "COMMIT"))

    engine = app.store.engine.sync_engine  # type: ignore[attr-defined]
    event.listen(engine, "after_cursor_execute", executed)
    event.listen(engine, "commit", committed)
    try:
        await app.router.handle(ALICE, "declare sev3 Disk full")
    finally:
        event.remove(engine, "after_cursor_execute", executed)
        event.remove(engine, "commit", committed)
    first = seen[0][0]
    mine = [statement for conn, statement in seen if conn is first]
    return mine[: mine.index("COMMIT")]


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
@pytest.mark.parametrize("path", ["durable", "direct"])
async def test_a_declaration_runs_only_the_statements_it_needs(
    request: pytest.FixtureRequest, peer: SlackPeer, db: str, path: str
) -> None:
    app = await make(request.getfixturevalue(f"{db}_url"), peer, durable=path == "durable")
    try:
        statements = transaction_of_a_declaration(app)
        tally = Counter(kind(s) for s in await statements)
    finally:
        await app.close()
    outbox = tally.pop(("INSERT", "outbox"), 0)
    reserved = tally.pop(("SELECT", "generate_series"), 0)
    # (No savepoint on Postgres: a number taken meanwhile inserts nothing and is retried.)
    assert tally == EXPECTED
    assert outbox <= (OUTBOX_STATEMENTS if path == "durable" else 0)
    assert reserved <= (1 if path == "durable" and db == "postgres" else 0)
