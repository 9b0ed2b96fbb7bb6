"""Drills: play one incident through a playbook on the console, with time compressed.

Everything runs in memory (store, reminders, chat) on a ManualClock the drill advances from
one event to the next, so an author sees every message and reminder the playbook would
produce, in order, without paging anyone or touching the real database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.chat.console.chat import ConsoleChat
from bot.core.catalog import Catalog
from bot.core.clock import ManualClock
from bot.core.playbook import Library, Loaded
from bot.core.postmortem.context import offset
from bot.core.router import Router
from bot.core.runner import PlaybookRunner
from bot.core.service import IncidentService, Invocation
from bot.schedule.ticker import Ticker
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
HORIZON = timedelta(days=14)  # reminders later than this are listed, not waited for
PEOPLE = ("bob", "carol", "dave", "erin", "frank")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Step:
    at: timedelta
    user: str
    command: str


def script(loaded: Loaded) -> list[Step]:
    """A plausible response: roles filled, an update, progress, resolution."""
    pb = loaded.playbook
    severities = pb.applies_to.severities
    severity = min(severities).value if severities else "sev2"
    service = f"service:{pb.applies_to.services[0]} " if pb.applies_to.services else ""
    steps = [
        Step(
            timedelta(0),
            "alice",
            f"declare {severity} {service}playbook:{pb.name} Drill of {pb.name}",
        )
    ]
    people = iter(PEOPLE)
    for role in pb.roles:
        if role.name != "commander":
            user = role.who[0] if role.who else next(people, "zoe")
            steps.append(Step(timedelta(minutes=2), "alice", f"role {role.name} @{user}"))
    steps += [
        Step(timedelta(minutes=12), "alice", "status Drill: impact confirmed, investigating."),
        Step(timedelta(minutes=25), "alice", "state identified"),
        Step(timedelta(minutes=26), "alice", "task done 1"),
        Step(timedelta(minutes=45), "alice", "state monitoring"),
        Step(timedelta(minutes=50), "alice", "status Drill: fix deployed, watching metrics."),
        Step(timedelta(minutes=70), "alice", "resolve Drill complete."),
    ]
    return steps


async def run_drill(
    loaded: Loaded,
    write: Callable[[str], None],
    *,
    speed: float = 0,
    sleep: Sleep = asyncio.sleep,
    catalog: Catalog | None = None,
) -> None:
    clock = ManualClock(START)

    def stamp() -> str:
        # The same T+ offsets as the postmortem's timeline, so the two can be read side by side.
        return f"[{offset(START, clock.now())}]"

    def closed() -> bool:
        # The reader has gone (`warroom drill ... | head`, see bot/chat/console/output.py).
        return bool(getattr(write, "closed", False))

    chat = ConsoleChat(lambda line: write(f"{stamp()} {line}"))
    store = MemoryStore()
    reminders = MemoryReminders()
    service = IncidentService(store, {chat.platform: chat}, clock)
    runner = PlaybookRunner(service, Library([loaded]), reminders, catalog)
    service.runner = runner
    ticker = Ticker(reminders, runner.fire, clock, name="drill")
    router = Router(service)
    write(
        f"Drill of playbook {loaded.playbook.name} ({loaded.content_hash}), "
        f"simulated from {START:%Y-%m-%d %H:%M} UTC. Nobody is paged."
    )

    async def jump(to: datetime) -> None:
        if speed > 0 and to > clock.now():
            await sleep((to - clock.now()).total_seconds() / speed)
        clock.set(max(to, clock.now()))
        await ticker.tick()

    async def advance(to: datetime) -> None:
        # Stop at every reminder on the way, so each fires at its own time, not late.
        while (pending := await reminders.pending(1)) and pending[0].due_at < to:
            await jump(pending[0].due_at)
        await jump(to)

    channel = "general"
    for step in script(loaded):
        if closed():
            return
        await advance(START + step.at)
        write(f"{stamp()} @{step.user} #{channel}> /incident {step.command}")
        reply = await router.handle(Invocation(step.user, chat.platform, channel), step.command)
        if reply.text:
            chat.say(channel, ("warroom: " if reply.public else "(only you) ") + reply.text)
        incident = await store.get_incident(1)
        if incident and incident.channel_name:
            channel = incident.channel_name
    # Let every remaining reminder fall due, in order, up to the horizon.
    while not closed() and (pending := await reminders.pending(1)):
        if pending[0].due_at > START + HORIZON:
            for r in pending:
                write(f"(pending beyond the drill: {r.kind} at {r.due_at:%Y-%m-%d %H:%M} UTC)")
            break
        await jump(pending[0].due_at)
    write(f"{stamp()} Drill finished.")
