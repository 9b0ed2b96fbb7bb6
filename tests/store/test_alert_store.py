"""The AlertStore contract, on memory, SQLite and Postgres."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.core.alerts.groups import AlertGroup, AlertRow
from bot.core.alerts.model import AlertStatus
from bot.core.alerts.storm import Ask, Share
from bot.core.model import EventKind, Incident, Severity, State, TimelineEvent
from bot.store import migrate
from bot.store.alerts import MemoryAlerts, SqlAlerts
from bot.store.memory import MemoryStore
from bot.store.sql import SqlStore
from bot.store.tables import AlertBudgetRow, AlertOverflowRow

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def group(**kw: object) -> AlertGroup:
    values: dict[str, object] = {
        "source": "alertmanager",
        "group_key": '{}:{alertname="X"}',
        "receiver": "warroom",
        "action": "declare",
        "created_at": T0,
        "updated_at": T0,
        "first_alert_at": T0 - timedelta(minutes=3),
        "alertname": "X",
        "summary": "s",
        "data": {"severity": "sev2"},
    }
    values.update(kw)
    return AlertGroup(**values)  # type: ignore[arg-type]


def row(group_id: int, fp: str, status: AlertStatus = AlertStatus.FIRING) -> AlertRow:
    return AlertRow(group_id, fp, "X", "s", status, T0, None, T0, {"alertname": "X"}, "http://g")


async def test_alert_store_contract(store: object) -> None:
    alerts = MemoryAlerts(store) if isinstance(store, MemoryStore) else SqlAlerts(store)  # type: ignore[arg-type]
    incident = await store.create_incident(  # type: ignore[attr-defined]
        Incident(0, "t", Severity.SEV2, State.INVESTIGATING, T0, "alerts", "console")
    )
    assert await alerts.load("alertmanager", '{}:{alertname="X"}') is None
    created = await alerts.create(group())
    assert created is not None and created.id is not None
    assert await alerts.create(group()) is None  # the same group twice: one row
    created.incident_number = incident.number
    await alerts.save(created, [row(created.id, "a"), row(created.id, "b")])
    event = TimelineEvent(
        incident.number,
        EventKind.ALERT,
        "alertmanager",
        "Alert firing: X: s",
        T0,
        T0,
        {"status": "firing"},
        source_key="alert:1:a:firing",
    )
    recorded = await alerts.save(created, [row(created.id, "a", AlertStatus.RESOLVED)], [event])
    assert [e.text for e in recorded] == ["Alert firing: X: s"]
    assert await alerts.save(created, [], [event]) == []  # recorded once
    assert [e.text for e in await store.timeline(incident.number)] == ["Alert firing: X: s"]  # type: ignore[attr-defined]
    loaded = await alerts.load("alertmanager", '{}:{alertname="X"}')
    assert loaded is not None
    got, rows, linked = loaded
    assert linked is not None and linked.number == incident.number
    assert got == created
    assert {(r.fingerprint, r.status) for r in rows} == {
        ("a", AlertStatus.RESOLVED),
        ("b", AlertStatus.FIRING),
    }
    assert rows[0].starts_at == T0 and rows[0].labels == {"alertname": "X"}
    # A new generation is what load returns from then on.
    second = await alerts.create(replace(group(), generation=2, first_alert_at=T0))
    assert second is not None
    loaded = await alerts.load("alertmanager", '{}:{alertname="X"}')
    assert loaded is not None and loaded[0].id == second.id and loaded[1] == []
    assert (await alerts.get(created.id)) is not None
    assert [g.id for g in await alerts.groups_of(incident.number)] == [created.id]
    first = await alerts.first_alerts([incident.number, 999])
    assert first == {incident.number: T0 - timedelta(minutes=3)}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_group_commit_one_bad_save_fails_alone(
    backend: str, request: pytest.FixtureRequest
) -> None:
    store = SqlStore.from_url(request.getfixturevalue(f"{backend}_url"))
    await migrate.upgrade(store.engine)
    try:
        alerts = SqlAlerts(store)
        incident = await store.create_incident(
            Incident(0, "t", Severity.SEV2, State.INVESTIGATING, T0, "alerts", "console")
        )
        good = await alerts.create(group(incident_number=incident.number))
        bad = await alerts.create(group(group_key="other"))
        assert good is not None and bad is not None and good.id is not None
        ok_event = TimelineEvent(
            incident.number, EventKind.ALERT, "alertmanager", "ok", T0, T0, source_key="k1"
        )
        # An entry for an incident that does not exist: the database refuses it.
        bad_event = TimelineEvent(
            999, EventKind.ALERT, "alertmanager", "bad", T0, T0, source_key="k2"
        )
        results = await asyncio.gather(
            alerts.save(good, [row(good.id, "a")], [ok_event]),
            alerts.save(bad, [], [bad_event]),
            return_exceptions=True,
        )
        assert [e.text for e in results[0]] == ["ok"]  # type: ignore[union-attr]
        assert isinstance(results[1], Exception)
        assert [e.text for e in await store.timeline(incident.number)] == ["ok"]
        loaded = await alerts.load("alertmanager", good.group_key)
        assert loaded is not None and [r.fingerprint for r in loaded[1]] == ["a"]
    finally:
        await store.close()


def _alerts(store: object) -> MemoryAlerts | SqlAlerts:
    return MemoryAlerts(store) if isinstance(store, MemoryStore) else SqlAlerts(store)  # type: ignore[arg-type]


async def test_open_incident_of_a_service_is_the_newest_open_one(store: object) -> None:
    alerts = _alerts(store)

    async def declare(service: str | None, state: State = State.INVESTIGATING) -> int:
        made = await store.create_incident(  # type: ignore[attr-defined]
            Incident(0, "t", Severity.SEV2, state, T0, "alerts", "console", service=service)
        )
        return int(made.number)

    assert await alerts.open_incident("checkout") is None
    older = await declare("checkout")
    newer = await declare("checkout")
    await declare("checkout", State.RESOLVED)
    await declare("ledger")
    await declare(None)
    found = await alerts.open_incident("checkout")
    assert found is not None and found.number == newer and found.service == "checkout"
    assert older < newer
    assert await alerts.open_incident("nope") is None


async def test_claim_links_once_and_a_stale_save_keeps_the_link(store: object) -> None:
    alerts = _alerts(store)
    incident = await store.create_incident(  # type: ignore[attr-defined]
        Incident(0, "t", Severity.SEV2, State.INVESTIGATING, T0, "alerts", "console")
    )
    created = await alerts.create(group())
    assert created is not None and created.id is not None
    stale = replace(created)  # another replica's copy, read before the link
    async with alerts.claim(created.id, "checkout") as claim:
        assert claim.won
        await alerts.link(created.id, incident.number)
    async with alerts.claim(created.id, "checkout") as again:
        assert not again.won  # linked: nobody claims it any more
    # The stale copy saves its alerts: the link stays, and the saver learns of it.
    await alerts.save(stale, [row(created.id, "a")])
    assert stale.incident_number == incident.number
    loaded = await alerts.get(created.id)
    assert loaded is not None and loaded[0].incident_number == incident.number
    assert [g.id for g in await alerts.groups_of(incident.number)] == [created.id]
    # An offer's message (and its channel) survive a stale copy without them, too.
    offered = await alerts.create(group(group_key="offer", channel_id="C1"))
    assert offered is not None
    before = replace(offered, data=dict(offered.data))
    offered.channel_id, offered.message_id = "D1", "m1"
    offered.data["offered_to"] = "bob"
    await alerts.save(offered, [])
    await alerts.save(before, [])
    loaded = await alerts.get(offered.id)  # type: ignore[arg-type]
    assert loaded is not None and (loaded[0].channel_id, loaded[0].message_id) == ("D1", "m1")
    assert loaded[0].data["offered_to"] == "bob"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_claim_made_while_another_replica_links_loses(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    stores = [SqlStore.from_url(url), SqlStore.from_url(url)]
    await migrate.upgrade(stores[0].engine)
    try:
        a, b = SqlAlerts(stores[0]), SqlAlerts(stores[1])
        created = await a.create(group())
        assert created is not None and created.id is not None
        incident = await stores[0].create_incident(
            Incident(0, "t", Severity.SEV2, State.INVESTIGATING, T0, "alerts", "console")
        )
        inside, asking = asyncio.Event(), asyncio.Event()
        outcomes: list[bool] = []

        async def first() -> None:
            async with a.claim(created.id, "checkout") as claim:  # type: ignore[arg-type]
                outcomes.append(claim.won)
                inside.set()
                await asyncio.wait_for(asking.wait(), 10)
                # The other replica's claim is on its way to the database (and waits there
                # for this transaction) while this one links and commits.
                await a.link(created.id, incident.number)  # type: ignore[arg-type]

        async def second() -> None:
            await asyncio.wait_for(inside.wait(), 10)
            asking.set()
            async with b.claim(created.id, "checkout") as claim:  # type: ignore[arg-type]
                outcomes.append(claim.won)

        await asyncio.gather(first(), second())
        assert outcomes == [True, False]
        loaded = await b.get(created.id)
        assert loaded is not None and loaded[0].incident_number == incident.number
    finally:
        for s in stores:
            await s.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_what_a_save_tells_is_written_with_it_as_outbox_rows(
    backend: str, request: pytest.FixtureRequest
) -> None:
    from sqlalchemy import select

    from bot.chat.console.chat import ConsoleChat
    from bot.core.clock import ManualClock
    from bot.store.outbox import OutboxChat
    from bot.store.tables import OutboxRow

    class Courier:
        """The local worker as the outbox sees it, recording what it is handed."""

        name = "test"
        lease_seconds = 60.0
        taken: list[object] = []

        def take(self, rows: object, committing: object = None) -> None:
            self.taken.append(rows)

        def wake(self) -> None:
            pass

    store = SqlStore.from_url(request.getfixturevalue(f"{backend}_url"))
    await migrate.upgrade(store.engine)
    woken: list[str] = []

    async def woke() -> None:
        woken.append("kick")

    try:
        alerts = SqlAlerts(store, woke=woke)
        chat = OutboxChat(ConsoleChat(lambda line: None), store.engine, ManualClock(), Courier())
        incident = await store.create_incident(
            Incident(0, "t", Severity.SEV2, State.INVESTIGATING, T0, "alerts", "console")
        )
        good = await alerts.create(group(incident_number=incident.number))
        bad = await alerts.create(group(group_key="other"))
        assert good is not None and bad is not None and good.id is not None

        async def tell(recorded: list[TimelineEvent]) -> None:
            await chat.post("inc-1", " / ".join(e.text for e in recorded))

        said = TimelineEvent(
            incident.number, EventKind.ALERT, "alertmanager", "Alert firing: X", T0, T0,
            source_key="k1",
        )  # fmt: skip
        await alerts.save(good, [row(good.id, "a")], [said], tell)
        # A save the database refuses (an entry for no incident) posts nothing either.
        refused = TimelineEvent(999, EventKind.ALERT, "alertmanager", "lost", T0, T0)
        with pytest.raises(Exception, match=r"(?i)foreign key"):
            await alerts.save(bad, [], [refused], tell)

        async def tell_then_fail(recorded: list[TimelineEvent]) -> None:
            await chat.post("inc-1", "half told")
            raise RuntimeError("the telling broke")

        # A save whose telling fails is undone whole: its entry and its post.
        later = replace(said, text="Alert firing: Y", source_key="k2")
        with pytest.raises(RuntimeError, match="the telling broke"):
            await alerts.save(good, [row(good.id, "b")], [later], tell_then_fail)
        async with store.engine.connect() as conn:
            rows = (await conn.execute(select(OutboxRow.__table__))).all()
        assert [(r.kind, r.args["text"]) for r in rows] == [("post", "Alert firing: X")]
        assert [e.text for e in await store.timeline(incident.number)] == ["Alert firing: X"]
        loaded = await alerts.get(good.id)
        assert loaded is not None and [r.fingerprint for r in loaded[1]] == ["a"]
        assert woken == ["kick"]  # once, after the commit that wrote the row
    finally:
        await store.close()


def _ask(wanted: int, team: str = "payments", incident: int = 1, window: datetime = T0) -> Ask:
    return Ask(team, window, incident, wanted, limit=20)


async def test_storm_budget_counts_lines_per_team_and_holds_back_the_rest(store: object) -> None:
    alerts = _alerts(store)
    assert await alerts.take(_ask(15)) == Share(15, 0, None)
    # Past the limit: 5 of 10 fit; nobody has posted "and N more" in incident 1 yet.
    assert await alerts.take(_ask(10)) == Share(5, 5, None)
    await alerts.overflowed(_ask(10), "m1")
    assert await alerts.take(_ask(4)) == Share(0, 9, "m1")  # edit m1: and 9 more
    # The budget is the team's; the "and N more" message is per incident.
    assert await alerts.take(_ask(3, incident=2)) == Share(0, 3, None)
    assert await alerts.take(_ask(3, team="dba")) == Share(3, 0, None)
    # The next window: a fresh budget, and a message of its own.
    later_window = T0 + timedelta(minutes=10)
    assert await alerts.take(_ask(25, window=later_window)) == Share(20, 5, None)
    assert await alerts.take(_ask(1, window=later_window)) == Share(0, 6, None)
    await alerts.overflowed(_ask(1, window=later_window), "m2")
    assert await alerts.take(_ask(2, window=later_window)) == Share(0, 8, "m2")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_storm_budget_is_shared_by_replicas_and_undone_with_its_save(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    stores = [SqlStore.from_url(url), SqlStore.from_url(url)]
    await migrate.upgrade(stores[0].engine)
    try:
        replicas = [SqlAlerts(s) for s in stores]

        async def notification(i: int) -> tuple[int, Share]:
            # As a save's tell does: take, and post "and N more" when none is there yet.
            alerts = replicas[i % 2]
            async with alerts.store.transaction():
                share = await alerts.take(_ask(5))
                if share.more and share.message_id is None:
                    await alerts.overflowed(_ask(5), f"m{i}")
                return i, share

        shares = await asyncio.gather(*(notification(i) for i in range(12)))
        assert sum(s.lines for _, s in shares) == 20
        held = sorted((s for _, s in shares if s.more), key=lambda s: s.more)
        assert [s.more for s in held] == [5 * k for k in range(1, 9)]  # one at a time
        posters = [i for i, s in shares if s.more and s.message_id is None]
        assert len(posters) == 1 and held[0].message_id is None  # the first past the limit
        assert {s.message_id for s in held[1:]} == {f"m{posters[0]}"}
        # A save that fails takes its count with it.
        with pytest.raises(RuntimeError):
            async with stores[1].transaction():
                await replicas[1].take(_ask(7))
                raise RuntimeError("the save failed")
        assert await replicas[0].take(_ask(1)) == Share(0, 41, f"m{posters[0]}")
        # The team's first lines of a new window clear its older windows away.
        assert await replicas[1].take(_ask(1, window=T0 + timedelta(minutes=10))) == Share(1, 0)
        async with stores[0].engine.connect() as conn:
            kept = [
                (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                for t in (AlertBudgetRow.__table__, AlertOverflowRow.__table__)
            ]
        assert kept == [1, 0]
    finally:
        for s in stores:
            await s.close()
