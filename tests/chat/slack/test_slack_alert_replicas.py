"""Two replicas of the bot behind a load balancer, on one database (Postgres, and an SQLite
file), talking to one Slack: Alertmanager's notifications of a group land on either, yet a
group makes one incident, groups of one service make one between them, every alert is on
its timeline once, a "Declare incident" pressed on both declares once, and a declaration
lost to a crash is made by the next notification."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alert_payloads import alert, later, notification
from conftest import ANNOUNCE, SIGNING_SECRET, SlackBot, authorize
from slack_peer import BOT_TOKEN, RecordingSleep, SlackPeer

from bot.alerts_web import parse
from bot.app import build_app
from bot.chat.slack.platform import build_slack_platform
from bot.core.alerts.intake import AlertIntake, Outcome
from bot.core.clock import ManualClock
from bot.core.commands import UsageError
from bot.core.model import EventKind
from bot.settings import Settings
from bot.store.alerts import SqlAlerts

ROOT = Path(__file__).resolve().parents[3]


async def replica(url: str, peer: SlackPeer, clock: ManualClock, folder: Path, n: int) -> SlackBot:
    settings = Settings(
        database_url=url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=peer.api_url,
        announce_channel=ANNOUNCE,
        catalog=str(ROOT / "catalog.example.yaml"),
        playbooks=str(folder / "no-playbooks"),
        journal=str(folder / f"journal-{n}.jsonl"),
        _env_file=None,
    )
    app = await build_app(settings, clock=clock)
    platform = build_slack_platform(app, authorize=authorize, sleep=RecordingSleep())
    app.add_platform(platform)
    return SlackBot(app, platform, peer, RecordingSleep())


@pytest.fixture(params=["sqlite", "postgres"])
async def replicas(
    request: pytest.FixtureRequest, peer: SlackPeer, tmp_path: Path
) -> AsyncIterator[list[SlackBot]]:
    url = request.getfixturevalue(f"{request.param}_url")
    clock = ManualClock(later(2))
    bots = [await replica(url, peer, clock, tmp_path, i) for i in range(2)]
    try:
        yield bots
    finally:
        for bot in bots:
            await bot.close()


def intake(bot: SlackBot) -> AlertIntake:
    assert bot.app.alerts is not None
    return bot.app.alerts


async def send(bot: SlackBot, body: dict) -> Outcome:
    return await intake(bot).handle(parse(json.dumps(body).encode(), "alertmanager"))


async def firing(bot: SlackBot, number: int) -> Counter[str]:
    events = await bot.app.store.timeline(number)
    return Counter(
        e.data["fingerprint"]
        for e in events
        if e.kind is EventKind.ALERT and e.data.get("status") == "firing"
    )


async def test_one_group_on_two_replicas_makes_one_incident(replicas: list[SlackBot]) -> None:
    pods = [alert(pod=f"p{i}", starts=later(i / 10)) for i in range(12)]
    # Alertmanager re-sends the growing group; the load balancer spreads the deliveries.
    outcomes = await asyncio.gather(
        *(send(replicas[i % 2], notification(pods[: i + 1])) for i in range(len(pods)))
    )
    incidents = await replicas[0].app.store.list_incidents()
    assert len(incidents) == 1 and incidents[0].service == "checkout"
    assert {o.incident for o in outcomes} == {"INC-1"}
    assert len({o.group_id for o in outcomes}) == 1
    counted = await firing(replicas[0], 1)
    assert sorted(counted.values()) == [1] * len(pods)  # every alert, once


async def test_a_storm_on_two_replicas_makes_no_more_incidents_than_services(
    replicas: list[SlackBot],
) -> None:
    names = [("HighErrorRate", "checkout"), ("PodCrashLooping", "checkout"), ("Lag", "database")]
    groups: list[list[dict]] = [[], [], []]
    bodies = []
    for i in range(300):
        g = i % 3
        groups[g].append(alert(names[g][0], service=names[g][1], pod=f"p{i}"))
        if i % 30 >= 27:  # each group re-sent every 30 alerts, as group_interval does
            bodies.append(notification(list(groups[g])))
    await asyncio.gather(*(send(replicas[i % 2], b) for i, b in enumerate(bodies)))
    for g, members in enumerate(groups):  # the last notification of each group
        await send(replicas[g % 2], notification(members))
    incidents = await replicas[1].app.store.list_incidents()
    assert sorted(i.service or "" for i in incidents) == ["checkout", "database"]
    recorded = sum([sum((await firing(replicas[0], i.number)).values()) for i in incidents], 0)
    assert recorded == 300  # every alert once, on its service's incident


async def test_declare_pressed_on_both_replicas_declares_once(replicas: list[SlackBot]) -> None:
    outcome = await send(replicas[0], notification([alert(severity="warning")]))
    assert outcome.action == "offer"
    results = await asyncio.gather(
        *(
            intake(bot).declare_offer(outcome.group_id, user)
            for bot, user in zip(replicas, ["U0ALICE001", "U0BOB00002"], strict=True)
        ),
        return_exceptions=True,
    )
    declared = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, UsageError)]
    assert len(declared) == 1 and len(refused) == 1, results
    assert str(refused[0]) == "These alerts are already INC-1."
    assert len(await replicas[1].app.store.list_incidents()) == 1


async def test_a_declaration_lost_to_a_crash_is_made_by_the_next_notification(
    replicas: list[SlackBot],
) -> None:
    body = notification([alert()])
    # The state a crash between storing the new group and its declaration leaves: the
    # group routed to declare, with no incident (that transaction rolled back).
    first = intake(replicas[0])
    group = await first._new_group(parse(json.dumps(body).encode(), "alertmanager"), 1)
    assert group is not None and group.incident_number is None
    assert await replicas[0].app.store.list_incidents() == []
    # Alertmanager retries (or re-sends at group_interval), to either replica.
    outcome = await send(replicas[1], body)
    assert outcome.incident == "INC-1" and outcome.group_id == group.id
    assert sum((await firing(replicas[0], 1)).values()) == 1
    stored = await SqlAlerts(replicas[0].app.store).get(group.id)  # type: ignore[arg-type]
    assert stored is not None and stored[0].incident_number == 1


async def test_alert_posts_reach_slack_once_through_the_outbox(replicas: list[SlackBot]) -> None:
    from alert_payloads import resolved
    from sqlalchemy import select

    from bot.store.tables import OutboxRow

    pods = [alert(pod=f"p{i}") for i in range(3)]
    await send(replicas[0], notification(pods))
    for i in range(3):  # resolved one by one, each notification to the other replica
        body = notification([resolved(p, later(5)) if j <= i else p for j, p in enumerate(pods)])
        await send(replicas[(i + 1) % 2], body)
    for bot in replicas:
        await bot.app.outbox.deliver_due()  # type: ignore[union-attr]
    incident = await replicas[0].app.store.get_incident(1)
    assert incident is not None and incident.channel_id is not None
    texts = replicas[0].peer.texts(incident.channel_id)
    assert texts.count("all 3 alerts resolved; /incident resolve?") == 1
    lines = [line for t in texts for line in t.splitlines() if line.startswith("Alert ")]
    assert sorted(lines) == sorted(
        ["Alert firing: HighErrorRate: Error rate above 5%"] * 3
        + ["Alert resolved: HighErrorRate: Error rate above 5%"] * 3
    )
    async with replicas[0].app.store.engine.connect() as conn:
        rows = (await conn.execute(select(OutboxRow.__table__))).all()
    said = [r for r in rows if r.kind == "post" and "all 3 alerts resolved" in r.args["text"]]
    assert [r.state for r in said] == ["done"]


async def settle(replicas: list[SlackBot]) -> None:
    """Deliver until neither replica has anything left: a row one replica's worker claimed
    may wait for a row the other's delivers first (an edit waits for its post)."""
    for _ in range(10):
        delivered = [await bot.app.outbox.deliver_due() for bot in replicas]  # type: ignore[union-attr]
        if not any(delivered):
            return
    raise AssertionError("the outbox did not settle")


def _more(texts: list[str]) -> list[int]:
    """The counts of the "... and N more alerts" messages among a channel's messages."""
    return [int(t.split()[2]) for t in texts if t.startswith("... and ") and "more alert" in t]


async def test_a_storm_split_between_replicas_gets_one_team_budget(
    replicas: list[SlackBot],
) -> None:
    from datetime import timedelta

    pods = [alert(pod=f"p{i}", starts=later(i / 100)) for i in range(120)]
    # Alertmanager re-sends the growing group every 10 alerts; the load balancer alternates.
    bodies = [notification(pods[: i + 10]) for i in range(0, 120, 10)]
    await asyncio.gather(*(send(replicas[i % 2], b) for i, b in enumerate(bodies)))
    await settle(replicas)
    incident = await replicas[0].app.store.get_incident(1)
    assert incident is not None and incident.channel_id is not None
    texts = replicas[0].peer.texts(incident.channel_id)
    lines = [line for t in texts for line in t.splitlines() if line.startswith("Alert firing")]
    assert len(lines) == 20  # the team's limit, in total over both replicas
    assert _more(texts) == [100]  # one message, edited up to the rest
    assert sum((await firing(replicas[0], 1)).values()) == 120  # all on the timeline

    # The next window (10 minutes): a fresh budget, and past it a message of its own.
    replicas[0].app.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    more = [*pods, *(alert(pod=f"q{i}", starts=later(12)) for i in range(30))]
    await asyncio.gather(
        send(replicas[0], notification(more[:135])), send(replicas[1], notification(more))
    )
    await settle(replicas)
    texts = replicas[0].peer.texts(incident.channel_id)
    lines = [line for t in texts for line in t.splitlines() if line.startswith("Alert firing")]
    assert len(lines) == 40
    assert _more(texts) == [100, 10]
