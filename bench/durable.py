"""The durable path (inbox, outbox rows in the command's transaction, a leased worker) against
the direct path (chat calls made inline, as before issue #10), in the same run, against the
local Slack peer (tests/slack_peer.py), in process, on SQLite (or --url Postgres).

    python bench/durable.py [--rounds 40] [--url postgresql+asyncpg://.../db]

Prints, per path: declare to the last set-up call (channel, invite, topic, summary, pin,
announcement) and status to its post reaching Slack, p50 and p90; then durable/direct at p50
(budget: at most 1.10). Rounds alternate the two paths so machine load hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's bot, and the test peer

from slack_peer import BOT_TOKEN, RecordingSleep, SlackPeer  # noqa: E402

from bot.app import App, build_app  # noqa: E402
from bot.chat.slack.platform import build_slack_platform  # noqa: E402
from bot.core.clock import ManualClock  # noqa: E402
from bot.core.model import Invocation  # noqa: E402
from bot.settings import Settings  # noqa: E402


async def authorize(enterprise_id, team_id, user_id):  # type: ignore[no-untyped-def]
    from slack_bolt.authorization import AuthorizeResult

    return AuthorizeResult(enterprise_id=None, team_id="T1", bot_token=BOT_TOKEN)


async def make(url: str, peer: SlackPeer, *, durable: bool, folder: str) -> App:
    settings = Settings(
        database_url=url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret="secret",
        slack_api_url=peer.api_url,
        announce_channel="C0ANNOUNCE",
        playbooks=f"{folder}/no-playbooks",
        journal=f"{folder}/journal.jsonl",
        _env_file=None,
    )
    app = await build_app(settings, clock=ManualClock())
    if not durable:
        app.outbox = None  # chat calls inline, as the direct path made them
        app.router.deliveries = None
    app.add_platform(build_slack_platform(app, authorize=authorize, sleep=RecordingSleep()))
    app.start_reminders()
    return app


def posted_in(peer: SlackPeer, channel: str | None, since: int):  # type: ignore[no-untyped-def]
    def check() -> bool:
        return any(
            c.method == "chat.postMessage" and c.params.get("channel") == channel
            for c in peer.calls[since:]
        )

    return check


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def main(rounds: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with SlackPeer() as peer:
            apps = {}
            for name in ("direct", "durable"):
                db = url or f"sqlite+aiosqlite:///{folder}/{name}.db"
                apps[name] = await make(db, peer, durable=name == "durable", folder=folder)
            declare: dict[str, list[float]] = {name: [] for name in apps}
            status: dict[str, list[float]] = {name: [] for name in apps}
            try:
                for n in range(rounds):
                    for name, app in apps.items() if n % 2 else reversed(apps.items()):
                        user = Invocation("U0ALICE001", "slack", "C0GENERAL1")
                        before = len(peer.calls)
                        started = time.perf_counter()
                        await app.router.handle(user, f"declare sev2 Bench {name} {n}")
                        # The reply waits for the set-up (durable: settle), so the last call
                        # is made by now; check it.
                        made = [c.method for c in peer.calls[before:]]
                        assert "pins.add" in made and made.count("chat.postMessage") >= 2, made
                        declare[name].append(time.perf_counter() - started)
                        incident = (await app.store.list_incidents(limit=1))[0]
                        here = Invocation("U0ALICE001", "slack", incident.channel_id)
                        before = len(peer.calls)
                        started = time.perf_counter()
                        await app.router.handle(here, f"status Bench {n}")
                        await peer.wait_for(posted_in(peer, incident.channel_id, before))
                        status[name].append(time.perf_counter() - started)
            finally:
                for app in apps.values():
                    await app.close()
    for label, figures in (("declare to last set-up call", declare), ("status to post", status)):
        for name, samples in figures.items():
            print(
                f"{label:30} {name:8} p50 {p(samples, 0.5):7.2f} ms  p90 {p(samples, 0.9):7.2f} ms"
            )
        ratio = statistics.median(figures["durable"]) / statistics.median(figures["direct"])
        print(f"{label:30} durable/direct at p50: {ratio:.2f} (budget 1.10)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--url", help="a Postgres URL to use (a scratch database)")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.url))
