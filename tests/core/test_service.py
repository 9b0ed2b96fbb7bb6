"""IncidentService and Router over in-memory ports: the incident lifecycle and its errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.core.model import EventKind, Severity, State, TaskState
from bot.core.router import Router
from bot.core.service import IncidentService, Invocation
from bot.store.memory import MemoryStore


class Harness:
    def __init__(
        self, announce: str | None = "incidents", store: MemoryStore | None = None
    ) -> None:
        self.clock = ManualClock()
        self.store = store or MemoryStore()
        self.output: list[str] = []
        self.chat = ConsoleChat(self.output.append)
        self.service = IncidentService(
            self.store, {"console": self.chat}, self.clock, announce_channel=announce
        )
        self.router = Router(self.service)

    async def run(self, text: str, user: str = "alice", channel: str = "general") -> str:
        reply = await self.router.handle(Invocation(user, "console", channel), text)
        return reply.text

    async def declare(self, text: str = "declare sev2 service:db Database is down") -> str:
        await self.run(text)
        incident = (await self.store.list_incidents())[0]
        assert incident.channel_id
        return incident.channel_id


@pytest.fixture
def h() -> Harness:
    return Harness()


async def test_declare_numbers_names_and_announces(h: Harness) -> None:
    reply = await h.run("declare sev2 service:db Database is down")
    assert reply == "INC-1 declared (sev2): Database is down. Join #inc-1-database-is-down."
    incident = await h.store.get_incident(1)
    assert incident is not None
    assert (incident.severity, incident.state, incident.service) == (
        Severity.SEV2,
        State.INVESTIGATING,
        "db",
    )
    assert incident.channel_name == "inc-1-database-is-down"
    assert incident.declared_at == h.clock.now()
    assert [r.role for r in await h.store.roles(1)] == ["commander"]
    assert h.chat.channels["inc-1-database-is-down"].members == {"alice"}
    assert (
        "INC-1 sev2 (major) | investigating | commander: @alice"
        == h.chat.channels["inc-1-database-is-down"].topic
    )
    assert incident.summary_message_id in h.chat.pins
    announced = [text for channel, text in h.chat.posts if channel == "incidents"]
    assert announced == [
        "INC-1 declared (sev2, major) on db: Database is down. "
        "Join #inc-1-database-is-down to help."
    ]
    assert (await h.run("declare Second")).startswith("INC-2 declared (sev3)")


async def test_declare_with_commander_given(h: Harness) -> None:
    channel = await h.declare("declare commander:@bob Payments slow")
    assert (await h.store.roles(1))[0].user == "bob"
    assert h.chat.channels[channel].members == {"alice", "bob"}


async def test_channel_name_collision_takes_a_suffix(h: Harness) -> None:
    h.chat.know("inc-1-db-down")  # e.g. left over from an earlier installation
    await h.run("declare db down")
    assert (await h.store.get_incident(1)).channel_name == "inc-1-db-down-2"  # type: ignore[union-attr]


async def test_private_incidents_are_not_announced(h: Harness) -> None:
    reply = await h.router.handle(
        Invocation("alice", "console", "general"), "declare --private leaked key"
    )
    assert not reply.public
    assert h.chat.channels["inc-1-leaked-key"].private
    assert not [p for p in h.chat.posts if p[0] == "incidents"]


async def test_full_lifecycle_records_every_change(h: Harness) -> None:
    channel = await h.declare()
    h.clock.advance(minutes=3)
    assert await h.run("status Looking at replication lag", channel=channel) == ""
    h.clock.advance(minutes=2)
    await h.run("sev sev1", channel=channel)
    await h.run("role comms @carol", channel=channel)
    await h.run("note primary restarted", user="bob", channel=channel)
    h.clock.advance(minutes=5)
    await h.run("state identified", channel=channel)
    h.clock.advance(minutes=10)
    await h.run("state monitoring", channel=channel)
    await h.run("task add Check replicas", channel=channel)
    await h.run("task done 1", user="carol", channel=channel)
    h.clock.advance(minutes=20)
    await h.run("resolve Failed over to the replica", channel=channel)

    incident = await h.store.get_incident(1)
    assert incident is not None
    start = incident.declared_at
    assert incident.state is State.RESOLVED
    assert incident.severity is Severity.SEV1
    assert incident.acknowledged_at == start + timedelta(minutes=3)
    assert incident.mitigated_at == start + timedelta(minutes=20)
    assert incident.resolved_at == start + timedelta(minutes=40)
    kinds = [e.kind for e in await h.store.timeline(1)]
    assert kinds == [
        EventKind.DECLARED,
        EventKind.ROLE_ASSIGNED,
        EventKind.STATUS_UPDATE,
        EventKind.SEVERITY_CHANGED,
        EventKind.ROLE_ASSIGNED,
        EventKind.NOTE,
        EventKind.STATE_CHANGED,
        EventKind.STATE_CHANGED,
        EventKind.TASK_CHANGED,
        EventKind.TASK_CHANGED,
        EventKind.STATE_CHANGED,
        EventKind.RESOLVED,
    ]
    actors = [e.actor for e in await h.store.timeline(1)]
    assert actors[4:6] == ["alice", "bob"] and actors[9] == "carol"
    assert [u.text for u in await h.store.status_updates(1)] == ["Looking at replication lag"]
    assert (await h.store.tasks(1))[0].state is TaskState.DONE
    assert {p.user for p in await h.store.participants(1)} == {"alice", "bob", "carol"}
    announced = [text for c, text in h.chat.posts if c == "incidents"]
    assert announced[-1] == (
        "INC-1 Database is down resolved after 40m 00s: Failed over to the replica"
    )
    # The pinned summary followed the changes.
    summary = h.chat.messages[incident.summary_message_id or ""][1]
    assert "Severity: sev1 (critical)   State: resolved" in summary


async def test_reopening_clears_resolution(h: Harness) -> None:
    channel = await h.declare()
    await h.run("resolve", channel=channel)
    assert "already resolved" in await h.run("resolve", channel=channel)
    await h.run("state investigating", channel=channel)
    incident = await h.store.get_incident(1)
    assert incident is not None and incident.resolved_at is None and incident.is_open


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("status all good", "works inside an incident channel"),
        ("resolve", "works inside an incident channel"),
        ("show INC-99", "There is no incident INC-99"),
        ("declare sev9 broken", "Unknown severity 'sev9'"),
        ("declare", ""),  # opens the form: the adapter shows it, no text
    ],
)
async def test_bad_input_outside_a_channel(h: Harness, text: str, says: str) -> None:
    assert says in await h.run(text)
    assert await h.store.list_incidents(include_resolved=True) == []


async def test_bad_input_inside_a_channel_changes_nothing(h: Harness) -> None:
    channel = await h.declare()
    before = await h.store.timeline(1)
    assert "Unknown role 'comander'. Did you mean 'commander'?" in await h.run(
        "role comander @bob", channel=channel
    )
    assert "already sev2" in await h.run("sev sev2", channel=channel)
    assert "already investigating" in await h.run("state investigating", channel=channel)
    assert "has no tasks yet" in await h.run("task done 1", channel=channel)
    assert "page a person" in await h.run("page payments-team", channel=channel)
    assert await h.store.timeline(1) == before


async def test_unexpected_failure_is_one_friendly_line_and_keeps_records(h: Harness) -> None:
    channel = await h.declare()

    async def broken_post(channel_id: str, text: str) -> str:
        raise ConnectionError("chat is down")

    h.chat.post = broken_post  # type: ignore[method-assign]
    reply = await h.run("status still digging", channel=channel)
    assert reply.startswith("Something went wrong on our side")
    # The status update was recorded before the chat post failed.
    assert [u.text for u in await h.store.status_updates(1)] == ["still digging"]


async def test_messages_in_incident_channels_reach_the_timeline_once(h: Harness) -> None:
    channel = await h.declare()
    svc = h.service
    assert await svc.record_message("console", channel, "bob", "replica lag 30s", source_key="m1")
    assert not await svc.record_message(
        "console", channel, "bob", "replica lag 30s", source_key="m1"
    )
    assert not await svc.record_message("console", "general", "bob", "lunch?")
    assert await svc.edit_message("m1", "replica lag 40s")
    assert await svc.highlight("m1", "alice")
    event = next(e for e in await h.store.timeline(1) if e.kind is EventKind.MESSAGE)
    assert event.text == "replica lag 40s"
    assert event.data == {
        "original_text": "replica lag 30s",
        "edited": True,
        "highlight": True,
        "highlighted_by": "alice",
    }
    assert await svc.delete_message("m1")
    assert next(e for e in await h.store.timeline(1) if e.source_key == "m1").deleted_at


async def test_list_show_timeline_and_tasks_views(h: Harness) -> None:
    channel = await h.declare()
    await h.run("declare sev4 minor thing")
    listing = await h.run("list")
    assert listing.splitlines()[0].startswith("INC-2  sev4  investigating")
    h.clock.advance(minutes=90)
    await h.run("resolve", channel=channel)
    assert "INC-1" not in await h.run("list")
    assert "INC-1" in await h.run("list --all")
    detail = await h.run("show INC-1")
    assert "Resolved: 2026-01-01 13:30:00 UTC (+1h 30m)" in detail
    timeline = await h.run("timeline 2", channel=channel)
    assert timeline.splitlines()[0] == "Timeline of INC-1 (last 2):"
    assert "T+1h 30m" in timeline.splitlines()[-1]
    assert "has no tasks" in await h.run("tasks", channel=channel)


class TimelineCountingStore(MemoryStore):
    """A MemoryStore that records which incidents' timelines were read, and how much."""

    def __init__(self) -> None:
        super().__init__()
        self.timeline_reads: list[tuple[int, int | None]] = []

    async def timeline(self, number: int, *, last: int | None = None):  # type: ignore[no-untyped-def]
        self.timeline_reads.append((number, last))
        return await super().timeline(number, last=last)


async def test_show_reads_no_timeline() -> None:
    """`show` prints roles and the last status update, never the timeline: an incident with
    10,000 events must not be loaded whole to answer it."""
    store = TimelineCountingStore()
    h = Harness(store=store)
    channel = await h.declare()
    await h.run("status rolling back", channel=channel)
    for n in range(30):
        await h.service.record_message("console", channel, "bob", f"message {n}")
    store.timeline_reads.clear()
    detail = await h.run("show INC-1")
    assert "Last update" in detail and "rolling back" in detail
    assert store.timeline_reads == []
