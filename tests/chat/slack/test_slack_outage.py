"""A database outage, on a Postgres server of the test's own (stopped and started again while
the bot runs): events that arrive meanwhile are acknowledged, spooled to the local journal
and on the timeline, in order, once it is back; commands get a clear answer instead of
"something went wrong"; /healthz says 503 meanwhile; the bot recovers without a restart."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from conftest import ALICE, start_bot
from pgserver import PrivatePostgres
from slack_peer import SlackPeer
from test_slack_commands import declare
from test_slack_events import message

from bot.core import messages
from bot.core.model import EventKind


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    if shutil.which("pg_config") is None:
        pytest.skip("pg_config not found: no Postgres binaries to start a private server")
    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


async def test_an_outage_loses_no_event_and_says_so_to_commands(
    postgres: PrivatePostgres, peer: SlackPeer, tmp_path
) -> None:
    bot = await start_bot(postgres.url, peer, journal=str(tmp_path / "journal.jsonl"))
    try:
        channel = await declare(bot)
        assert (await bot.http.get("/healthz")).status_code == 200
        postgres.stop()  # the database goes away (a failover, a restart)

        assert (await bot.http.get("/healthz")).status_code == 503
        for i in range(100):
            ts = f"{1_700_000_100 + i}.000100"
            response = await bot.event(message(channel, ts, f"during {i:03d}"), event_id=f"Ev{i}")
            assert response.status_code == 200  # acknowledged: in the journal
            if i % 20 == 10:
                answer = await bot.command(f"status still down {i}", channel=channel)
                assert answer.status_code == 200
                assert answer.json() == {
                    "text": messages.DATABASE_UNAVAILABLE,
                    "response_type": "ephemeral",
                }
        assert bot.app.inbox.spooled == 100
        assert (await bot.http.get("/healthz")).status_code == 503

        postgres.start()  # back, and the same process carries on
        assert (await bot.http.get("/healthz")).status_code == 200
        response = await bot.event(
            message(channel, "1700000300.000100", "after"), event_id="EvAfter"
        )
        assert response.status_code == 200
        await bot.command("status back to normal", channel=channel)
        await bot.settle()
        events = await bot.app.store.timeline(1)
        said = [e.text for e in events if e.kind is EventKind.MESSAGE]
        assert said == [f"during {i:03d}" for i in range(100)] + ["after"]
        assert [u.text for u in await bot.app.store.status_updates(1)] == ["back to normal"]
        assert all(e.actor == ALICE for e in events if e.kind is EventKind.MESSAGE)
        assert not (tmp_path / "journal.jsonl").exists()
        # Slack's retry of an event handled from the journal is not recorded twice.
        await bot.event(message(channel, "1700000100.000100", "during 000"), event_id="Ev0")
        await bot.settle()
        again = [e for e in await bot.app.store.timeline(1) if e.kind is EventKind.MESSAGE]
        assert len(again) == 101
    finally:
        await bot.close()
