"""One contract, every Store: memory, SQLite and Postgres behave the same."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.core.model import (
    Change,
    EventKind,
    Incident,
    MessageRow,
    Participant,
    RoleAssignment,
    Severity,
    State,
    StatusUpdate,
    Task,
    TaskState,
    TimelineEvent,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def draft(title: str = "DB down", **kw: object) -> Incident:
    values: dict[str, object] = dict(
        number=0,
        title=title,
        severity=Severity.SEV2,
        state=State.INVESTIGATING,
        declared_at=T0,
        declared_by="alice",
        platform="console",
    )
    values.update(kw)
    return Incident(**values)  # type: ignore[arg-type]


def event(
    n: int, text: str, at: datetime = T0, key: str | None = None, kind: EventKind = EventKind.NOTE
) -> TimelineEvent:
    return TimelineEvent(
        n,
        kind,
        "alice",
        text,
        occurred_at=at,
        recorded_at=at,
        data={"k": [1, "two"]},
        source_key=key,
    )


async def test_numbers_count_up_from_one(store) -> None:  # type: ignore[no-untyped-def]
    first = await store.create_incident(draft("a"))
    second = await store.create_incident(draft("b"))
    assert (first.number, second.number) == (1, 2)
    assert (await store.get_incident(2)).title == "b"
    assert await store.get_incident(3) is None


async def test_incident_round_trips_every_field(store) -> None:  # type: ignore[no-untyped-def]
    stored = await store.create_incident(draft(service="db", private=True, description="d"))
    stored.channel_id, stored.channel_name = "C1", "inc-1-db-down"
    stored.acknowledged_at = T0 + timedelta(minutes=1)
    stored.summary_message_id = "m1"
    await store.commit(Change(incident=stored))
    assert await store.get_incident(1) == stored
    assert await store.incident_by_channel("console", "C1") == stored
    assert await store.incident_by_channel("slack", "C1") is None


async def test_times_come_back_as_the_same_instant_in_utc(store) -> None:  # type: ignore[no-untyped-def]
    # SQLite drops offsets; the store must not shift the instant.
    berlin = timezone(timedelta(hours=2))
    stored = await store.create_incident(
        draft(declared_at=datetime(2026, 3, 1, 11, 0, tzinfo=berlin))
    )
    back = await store.get_incident(stored.number)
    assert back.declared_at == T0 and back.declared_at.utcoffset() == timedelta(0)


async def test_timeline_orders_by_occurrence_and_skips_duplicates(store) -> None:  # type: ignore[no-untyped-def]
    n = (await store.create_incident(draft())).number
    recorded = await store.commit(
        Change(
            events=[
                event(n, "later", T0 + timedelta(minutes=5), key="slack:C1:2"),
                event(n, "first", T0, key="slack:C1:1"),
                event(n, "same time, recorded later", T0 + timedelta(minutes=5)),
            ]
        )
    )
    assert len(recorded) == 3 and all(e.id for e in recorded)
    again = await store.commit(Change(events=[event(n, "first", T0, key="slack:C1:1")]))
    assert again == []
    texts = [e.text for e in await store.timeline(n)]
    assert texts == ["first", "later", "same time, recorded later"]
    assert [e.text for e in await store.timeline(n, last=2)] == texts[1:]
    assert (await store.timeline(n))[0].data == {"k": [1, "two"]}


async def test_roles_participants_updates_and_tasks(store) -> None:  # type: ignore[no-untyped-def]
    n = (await store.create_incident(draft())).number
    task = Task(n, "triage", 1, "Check dashboards")
    await store.commit(
        Change(
            roles=[
                RoleAssignment(n, "commander", "alice", T0, "alice"),
                RoleAssignment(n, "commander", "bob", T0, "alice"),
            ],
            participants=[Participant(n, "alice", T0), Participant(n, "alice", T0)],
            status_updates=[
                StatusUpdate(n, "looking", "alice", T0, Severity.SEV2, State.INVESTIGATING)
            ],
            tasks=[task, Task(n, "triage", 2, "Page DBA", assignee="bob", due_at=T0)],
        )
    )
    await store.commit(
        Change(participants=[Participant(n, "alice", T0), Participant(n, "bob", T0)])
    )
    assert [r.user for r in await store.roles(n)] == ["alice", "bob"]
    assert [p.user for p in await store.participants(n)] == ["alice", "bob"]
    update = (await store.status_updates(n))[0]
    assert (update.severity, update.state) == (Severity.SEV2, State.INVESTIGATING)
    tasks = await store.tasks(n)
    assert [t.title for t in tasks] == ["Check dashboards", "Page DBA"]
    tasks[0].state = TaskState.DONE
    await store.commit(Change(tasks=[tasks[0]]))
    assert [t.state for t in await store.tasks(n)] == [TaskState.DONE, TaskState.OPEN]
    assert (await store.tasks(n))[1].due_at == T0


async def test_new_tasks_of_one_commit_get_their_ids(store) -> None:  # type: ignore[no-untyped-def]
    # SqlStore inserts them in one multi-row INSERT; the ids come back to each task.
    n = (await store.create_incident(draft())).number
    m = (await store.create_incident(draft("other"))).number
    first = Task(n, "triage", 1, "Check dashboards")
    await store.commit(Change(tasks=[first]))
    first.title = "Check the dashboards"
    new = [Task(n, "triage", p, f"step {p}", due_at=T0 if p % 2 else None) for p in (3, 2)]
    other = Task(m, "triage", 2, "elsewhere")
    await store.commit(Change(tasks=[*new, first, other]))
    stored = {(t.incident_number, t.position): t for n_ in (n, m) for t in await store.tasks(n_)}
    for task in (first, *new, other):
        assert task.id is not None and stored[task.incident_number, task.position] == task
    assert len({t.id for t in stored.values()}) == 4


async def test_list_incidents_newest_first(store) -> None:  # type: ignore[no-untyped-def]
    for title in ("a", "b", "c"):
        await store.create_incident(draft(title))
    resolved = await store.get_incident(2)
    resolved.state = State.RESOLVED
    await store.commit(Change(incident=resolved))
    assert [i.number for i in await store.list_incidents()] == [3, 1]
    assert [i.number for i in await store.list_incidents(include_resolved=True)] == [3, 2, 1]
    assert [i.number for i in await store.list_incidents(include_resolved=True, limit=1)] == [3]


async def test_request_keys_are_claimed_once(store) -> None:  # type: ignore[no-untyped-def]
    assert await store.claim_request("slack:Ev1", T0)
    assert not await store.claim_request("slack:Ev1", T0)
    assert await store.claim_request("slack:Ev2", T0)


async def test_events_follow_edits_by_source_key(store) -> None:  # type: ignore[no-untyped-def]
    n = (await store.create_incident(draft())).number
    await store.commit(Change(events=[event(n, "hello", key="k1")]))
    changed = await store.update_event("k1", text="hello!", data={"edited": True})
    assert changed.text == "hello!" and changed.data == {"k": [1, "two"], "edited": True}
    await store.update_event("k1", deleted_at=T0)
    assert (await store.get_event("k1")).deleted_at == T0
    assert await store.update_event("missing", text="x") is None


async def test_failed_commit_records_nothing(store) -> None:  # type: ignore[no-untyped-def]
    n = (await store.create_incident(draft())).number
    with pytest.raises(Exception):  # noqa: B017 - any integrity error will do
        await store.commit(
            Change(
                events=[event(n, "should vanish")],
                tasks=[Task(n, "x", 1, "a"), Task(n, "x", 1, "same position")],
            )
        )
    assert await store.timeline(n) == []


async def test_concurrent_declares_get_distinct_numbers(store) -> None:  # type: ignore[no-untyped-def]
    made = await asyncio.gather(*(store.create_incident(draft(f"t{i}")) for i in range(8)))
    assert sorted(i.number for i in made) == list(range(1, 9))


async def test_messages_are_recorded_in_bulk_once_per_source_key(store) -> None:  # type: ignore[no-untyped-def]
    n = (await store.create_incident(draft())).number
    later = T0 + timedelta(minutes=1)
    berlin = timezone(timedelta(hours=2))
    await store.commit(Change(events=[event(n, "already there", key="slack:C1:0")]))
    recorded = await store.record_messages(
        [
            MessageRow(n, "bob", "hello", T0.astimezone(berlin), later, "slack:C1:1"),
            MessageRow(n, "bob", "again", T0, later, "slack:C1:0"),  # recorded before
            MessageRow(n, "carol", "no key", later, later),
            MessageRow(n, "bob", "repeat", T0, later, "slack:C1:1"),  # earlier in this call
            MessageRow(n, "carol", "no key either", later, later),
        ],
        [Participant(n, "bob", later), Participant(n, "carol", later)],
    )
    assert recorded == [True, False, True, False, True]
    messages = [e for e in await store.timeline(n) if e.kind is EventKind.MESSAGE]
    assert [(e.actor, e.text, e.source_key) for e in messages] == [
        ("bob", "hello", "slack:C1:1"),
        ("carol", "no key", None),
        ("carol", "no key either", None),
    ]
    first = messages[0]
    assert (first.occurred_at, first.recorded_at, first.data, first.deleted_at) == (
        T0,
        later,
        {},
        None,
    )
    assert first.occurred_at.utcoffset() == timedelta(0)
    assert all(e.id for e in messages)
    assert (await store.get_event("slack:C1:1")).text == "hello"
    # Participants already there are skipped, new ones added, whatever came with them.
    assert await store.record_messages([], [Participant(n, "bob", later)]) == []
    assert await store.record_messages(
        [MessageRow(n, "dave", "hi", later, later, "slack:C1:2")],
        [Participant(n, "dave", later), Participant(n, "carol", later)],
    ) == [True]
    assert [p.user for p in await store.participants(n)] == ["bob", "carol", "dave"]
    assert (await store.participants(n))[0].joined_at == later


async def test_failed_bulk_messages_record_nothing(store) -> None:  # type: ignore[no-untyped-def]
    n = (await store.create_incident(draft())).number
    with pytest.raises(Exception):  # noqa: B017 - no such incident: any integrity error will do
        await store.record_messages(
            [MessageRow(n, "bob", "fine", T0, T0, "k1"), MessageRow(n + 1, "bob", "x", T0, T0)],
            [Participant(n, "bob", T0)],
        )
    assert await store.timeline(n) == []
    assert await store.participants(n) == []
    assert await store.record_messages([MessageRow(n, "bob", "fine", T0, T0, "k1")]) == [True]


async def test_concurrent_declares_inside_transactions_get_distinct_numbers(store) -> None:  # type: ignore[no-untyped-def]
    """As a command declares: inside its transaction, which a number taken meanwhile must
    not abort (Postgres aborts a transaction at its first error)."""

    async def declare(i: int) -> int:
        async with store.transaction():
            made = await store.create_incident(draft(f"t{i}"))
            await store.commit(Change(events=[event(made.number, "declared")]))
            return int(made.number)

    numbers = await asyncio.gather(*(declare(i) for i in range(6)))
    assert sorted(numbers) == list(range(1, 7))
    for number in numbers:
        assert [e.text for e in await store.timeline(number)] == ["declared"]
