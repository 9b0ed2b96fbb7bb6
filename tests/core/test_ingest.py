"""Timeline ingest batches writes under load and still answers each message exactly."""

from __future__ import annotations

import asyncio

from bot.core.clock import ManualClock
from bot.core.ingest import IncomingMessage, TimelineIngest
from bot.core.model import Change, EventKind, Incident, Severity, State
from bot.store.memory import MemoryStore


class CountingStore(MemoryStore):
    """A real in-memory store that counts ingest writes (and the participants each one sent)
    and can be told to fail once."""

    def __init__(self) -> None:
        super().__init__()
        self.commits = 0
        self.fail_next = False
        self.participants_sent: list[list[str]] = []

    async def record_messages(self, messages, participants=()):  # type: ignore[no-untyped-def]
        self.commits += 1
        self.participants_sent.append(sorted(p.user for p in participants))
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("database went away")
        return await super().record_messages(messages, participants)


async def setup() -> tuple[CountingStore, TimelineIngest, ManualClock]:
    store, clock = CountingStore(), ManualClock()
    incident = await store.create_incident(
        Incident(0, "db down", Severity.SEV2, State.INVESTIGATING, clock.now(), "alice", "slack")
    )
    incident.channel_id = "C1"
    await store.commit(Change(incident=incident))
    store.commits = 0
    return store, TimelineIngest(store, clock), clock


def msg(i: int, channel: str = "C1", key: str | None = "auto") -> IncomingMessage:
    return IncomingMessage(
        "slack",
        channel,
        f"user{i % 3}",
        f"message {i}",
        source_key=f"slack:{channel}:{i}" if key == "auto" else key,
    )


async def test_a_burst_is_written_in_few_commits() -> None:
    store, ingest, _ = await setup()
    results = await asyncio.gather(*(ingest.add(msg(i)) for i in range(200)))
    assert all(results)
    events = await store.timeline(1)
    assert [e.text for e in events] == [f"message {i}" for i in range(200)]
    assert all(e.kind is EventKind.MESSAGE for e in events)
    assert store.commits == ingest.batches <= 2  # not 200
    assert {p.user for p in await store.participants(1)} == {"user0", "user1", "user2"}
    await ingest.close()


async def test_duplicates_and_other_channels_are_not_recorded() -> None:
    store, ingest, _ = await setup()
    results = await asyncio.gather(
        ingest.add(msg(1)),
        ingest.add(msg(1)),
        ingest.add(msg(2, channel="C-random")),
        ingest.add(msg(3, key=None)),
        ingest.add(msg(4, key=None)),
    )
    assert results == [True, False, False, True, True]
    assert await ingest.add(msg(1)) is False  # redelivered later
    assert len(await store.timeline(1)) == 3
    await ingest.close()


async def test_a_failed_write_fails_its_batch_and_the_next_one_works() -> None:
    store, ingest, _ = await setup()
    store.fail_next = True
    outcomes = await asyncio.gather(ingest.add(msg(1)), ingest.add(msg(2)), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert await ingest.add(msg(1)) is True  # the retry (e.g. Slack's redelivery) lands
    assert [e.text for e in await store.timeline(1)] == ["message 1"]
    await ingest.close()


async def test_known_participants_are_not_written_again() -> None:
    store, ingest, _ = await setup()
    store.fail_next = True
    outcomes = await asyncio.gather(ingest.add(msg(0)), return_exceptions=True)
    assert isinstance(outcomes[0], ConnectionError)
    assert await ingest.add(msg(3))  # user0 again: the failed write did not make them known
    assert await ingest.add(msg(6))  # user0 is known now
    assert await ingest.add(msg(1))
    assert await ingest.add(msg(2, channel="C-random")) is False
    assert store.participants_sent == [["user0"], ["user0"], [], ["user1"]]
    assert [p.user for p in await store.participants(1)] == ["user0", "user1"]
    await ingest.close()


async def test_messages_of_several_channels_in_one_batch() -> None:
    store, ingest, clock = await setup()
    other = await store.create_incident(
        Incident(0, "cache", Severity.SEV3, State.INVESTIGATING, clock.now(), "bob", "slack")
    )
    other.channel_id = "C2"
    await store.commit(Change(incident=other))
    results = await asyncio.gather(
        ingest.add(msg(1)),
        ingest.add(msg(2, channel="C-random")),
        ingest.add(msg(3, channel="C2")),
        ingest.add(msg(4, channel="C-random")),
        ingest.add(msg(5)),
    )
    assert results == [True, False, True, False, True]
    assert [e.text for e in await store.timeline(1)] == ["message 1", "message 5"]
    assert [e.text for e in await store.timeline(2)] == ["message 3"]
    assert [p.user for p in await store.participants(2)] == ["user0"]
    await ingest.close()


async def test_at_idle_each_message_is_written_at_once() -> None:
    store, ingest, _ = await setup()
    for i in range(3):
        assert await ingest.add(msg(i))
        assert store.commits == ingest.batches == i + 1
    await ingest.close()


async def test_batches_stop_at_max_batch_and_keep_the_order() -> None:
    store, ingest, _ = await setup()
    ingest.max_batch = 2
    results = await asyncio.gather(*(ingest.add(msg(i)) for i in range(5)), ingest.add(msg(0)))
    assert results == [True] * 5 + [False]
    assert store.commits == 3
    assert [e.text for e in await store.timeline(1)] == [f"message {i}" for i in range(5)]
    await ingest.close()
