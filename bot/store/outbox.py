"""The outbox: every chat side effect as a row, written in the transaction of its cause.

`OutboxChat` is the Chat port the core talks to when the bot runs on a database: each call
writes a row instead of calling the platform, and returns at once. What a platform call would
have returned (a new channel's id, a posted message's id) is a stand-in, `⟦outbox:N⟧`, that
the core stores like a real id; the worker (bot/schedule/outbox.py) swaps in the real id when
it delivers row N, in the row's own finishing transaction, and resolves it in every later row
that mentions it.

Rows of one lane (a channel) are delivered in order; a row naming another row's stand-in is
delivered after it (`after`). The claim is one statement (FOR UPDATE SKIP LOCKED on Postgres),
finishing is fenced by the claim token, and failed rows stay visible (`/incident show`).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.model import Incident, Task
from bot.core.ports import Channel, Chat, Clock, Posting
from bot.store import session
from bot.store.tables import IncidentRow, OutboxRow

O = OutboxRow.__table__  # noqa: E741
I = IncidentRow.__table__  # noqa: E741
PLACEHOLDER_PREFIX = "⟦outbox:"
TOKEN = re.compile(r"⟦(outbox|link):(\d+)(?::([^⟧]*))?⟧")
PENDING, DONE, FAILED = "pending", "done", "failed"
# Serialises claims on Postgres (SKIP LOCKED alone lets two claims split one lane).
CLAIM_LOCK = 727_010


def placeholder(row_id: int) -> str:
    return f"{PLACEHOLDER_PREFIX}{row_id}⟧"


def placeholder_id(value: str | None) -> int | None:
    match = TOKEN.fullmatch(value or "")
    return int(match.group(2)) if match and match.group(1) == "outbox" else None


def references(value: object) -> list[int]:
    return [int(m.group(2)) for m in TOKEN.finditer(json.dumps(value, ensure_ascii=False))]


def _channel(channel: Channel) -> dict[str, str]:
    return {"id": channel.id, "name": channel.name}


class OutboxChat:
    """The Chat port as rows. Anything that is not a side effect (channel_link, platform
    helpers the adapters use) is the real chat's."""

    def __init__(
        self,
        chat: Chat,
        engine: AsyncEngine,
        clock: Clock,
        wake: Callable[[], None],
        claimant: Callable[[], tuple[str, str, float]] | None = None,
    ) -> None:
        self.chat = chat
        self.platform = chat.platform
        self.engine = engine
        self.clock = clock
        self.wake = wake
        # The local worker, if running: rows written in a transaction are claimed by it in
        # that same transaction (one commit fewer on the way to the platform). If this
        # process dies first, the lease runs out and any replica delivers them.
        self.claimant = claimant

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chat, name)

    async def _enqueue(self, kind: str, lane: str, args: dict[str, Any]) -> int:
        refs = references(args)
        now = self.clock.now()
        values = {
            "key": f"wr-{uuid.uuid4().hex}",
            "platform": self.platform,
            "lane": lane,
            "after": max(refs) if refs else None,
            "kind": kind,
            "args": args,
            "state": PENDING,
            "attempts": 0,
            "created_at": now,
            "available_at": now,
        }
        tx = session.ambient(self.engine)
        if tx is not None and self.claimant is not None:
            if tx.claim is None:
                name, token, lease = self.claimant()
                tx.claim = (name, token)
                tx.lease_seconds = lease  # type: ignore[attr-defined]
            if tx.claim is not None:
                lease = getattr(tx, "lease_seconds", 60.0)
                values |= {
                    "claimed_by": tx.claim[0],
                    "claim_token": tx.claim[1],
                    "lease_until": now + timedelta(seconds=lease),
                    "attempts": 1,
                }
        async with session.begin(self.engine) as conn:
            row_id = (await conn.execute(insert(O).values(**values).returning(O.c.id))).scalar_one()
        if tx is not None:
            tx.effects.append(row_id)
        else:
            self.wake()
        return int(row_id)

    async def create_channel(self, name: str, *, private: bool) -> Channel:
        row_id = await self._enqueue(
            "create_channel", f"new:{uuid.uuid4().hex}", {"name": name, "private": private}
        )
        return Channel(placeholder(row_id), name)

    async def invite(self, channel: Channel, users: Sequence[str]) -> None:
        await self._enqueue(
            "invite", channel.id, {"channel": _channel(channel), "users": list(users)}
        )

    async def set_topic(self, channel: Channel, topic: str) -> None:
        await self._enqueue("set_topic", channel.id, {"channel": _channel(channel), "topic": topic})

    async def post(self, channel_id: str, text: str) -> str:
        return placeholder(
            await self._enqueue("post", channel_id, {"channel_id": channel_id, "text": text})
        )

    async def post_many(self, postings: Sequence[Posting]) -> list[str]:
        """Many posts as rows written by one statement (a batch of due reminders). A posting's
        `key` is its row's key and makes it idempotent: a posting whose key has a row already
        (it was posted before) writes nothing and stands for that row."""
        if self.claimant is not None and session.ambient(self.engine) is not None:
            # Claimed as written: one at a time, through the claim bookkeeping of _enqueue.
            return [await self.post(p.channel_id, p.text) for p in postings]
        now = self.clock.now()
        rows = []
        for p in postings:
            args = {"channel_id": p.channel_id, "text": p.text}
            refs = references(args)
            rows.append(
                {
                    "key": p.key or f"wr-{uuid.uuid4().hex}",
                    "platform": self.platform,
                    "lane": p.channel_id,
                    "after": max(refs) if refs else None,
                    "kind": "post",
                    "args": args,
                    "state": PENDING,
                    "attempts": 0,
                    "created_at": now,
                    "available_at": now,
                }
            )
        if not rows:
            return []
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        # Matched back by key, not by RETURNING order: asking SQLAlchemy for the order
        # (sort_by_parameter_order) makes it insert one row per statement on SQLite.
        statement = (
            dialect.insert(O)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(O.c.id, O.c.key)
        )
        async with session.begin(self.engine) as conn:
            by_key = {key: int(i) for i, key in await conn.execute(statement, rows)}
            new = list(by_key.values())
            missing = [row["key"] for row in rows if row["key"] not in by_key]
            if missing:
                found = await conn.execute(select(O.c.id, O.c.key).where(O.c.key.in_(missing)))
                by_key |= {key: int(i) for i, key in found}
        tx = session.ambient(self.engine)
        if tx is not None:
            tx.effects.extend(new)
        elif new:
            self.wake()
        return [placeholder(by_key[row["key"]]) for row in rows]

    async def update(self, channel_id: str, message_id: str, text: str) -> None:
        args = {"channel_id": channel_id, "message_id": message_id, "text": text}
        await self._enqueue("update", channel_id, args)

    async def pin(self, channel_id: str, message_id: str) -> None:
        await self._enqueue("pin", channel_id, {"channel_id": channel_id, "message_id": message_id})

    async def post_checklist(self, channel_id: str, incident: Incident, tasks: list[Task]) -> str:
        # Drawn from the tasks as they are when delivered: a late delivery shows the present.
        args = {"channel_id": channel_id, "incident": incident.number}
        return placeholder(await self._enqueue("post_checklist", channel_id, args))

    async def update_checklist(
        self, channel_id: str, message_id: str, incident: Incident, tasks: list[Task]
    ) -> None:
        args = {"channel_id": channel_id, "message_id": message_id, "incident": incident.number}
        await self._enqueue("update_checklist", channel_id, args)

    async def upload(self, channel_id: str, filename: str, content: bytes, title: str) -> None:
        args = {
            "channel_id": channel_id,
            "filename": filename,
            "content": base64.b64encode(content).decode("ascii"),
            "title": title,
        }
        await self._enqueue("upload", channel_id, args)

    async def send_page(self, user: str, incident: Incident, text: str) -> str:
        args = {"user": user, "incident": incident.number, "text": text}
        return placeholder(await self._enqueue("send_page", f"dm:{user}", args))

    def channel_link(self, channel: Channel) -> str:
        row_id = placeholder_id(channel.id)
        if row_id is None:
            return self.chat.channel_link(channel)
        return f"⟦link:{row_id}:{channel.name}⟧"


@dataclass
class Claimed:
    id: int
    key: str
    platform: str
    lane: str
    kind: str
    args: dict[str, Any]
    attempts: int
    after: int | None
    token: str
    lease_until: datetime | None = None  # as the database has it


COLUMNS = (O.c.id, O.c.key, O.c.platform, O.c.lane, O.c.kind, O.c.args, O.c.attempts, O.c.after)


class SqlOutbox:
    """Claiming, renewing and finishing outbox rows."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    async def claim(
        self, me: str, now: datetime, *, limit: int, lease_seconds: float
    ) -> list[Claimed]:
        earlier, dep, dep2 = O.alias("earlier"), O.alias("dep"), O.alias("dep2")
        # An earlier row of the lane that cannot go now holds the lane (order per channel).
        lane_held = exists().where(
            earlier.c.lane == O.c.lane,
            earlier.c.id < O.c.id,
            earlier.c.state == PENDING,
            or_(
                earlier.c.available_at > now,
                and_(earlier.c.lease_until.is_not(None), earlier.c.lease_until >= now),
                exists().where(dep2.c.id == earlier.c.after, dep2.c.state == PENDING),
            ),
        )
        waiting = exists().where(dep.c.id == O.c.after, dep.c.state == PENDING)
        due = (
            select(O.c.id)
            .where(
                O.c.state == PENDING,
                O.c.available_at <= now,
                or_(O.c.lease_until.is_(None), O.c.lease_until < now),
                ~lane_held,
                ~waiting,
            )
            .order_by(O.c.id)
            .limit(limit)
        )
        if self._postgres:
            due = due.with_for_update(skip_locked=True, of=O)
        token = uuid.uuid4().hex
        statement = (
            update(O)
            .where(O.c.id.in_(due.scalar_subquery()))
            .values(
                claimed_by=me,
                claim_token=token,
                lease_until=now + timedelta(seconds=lease_seconds),
                attempts=O.c.attempts + 1,
            )
            .returning(*COLUMNS)
        )
        async with session.begin(self.engine) as conn:
            if self._postgres:
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({CLAIM_LOCK})"))
            rows = (await conn.execute(statement)).all()
        until = now + timedelta(seconds=lease_seconds)
        claimed = (Claimed(*row, token=token, lease_until=until) for row in rows)
        return sorted(claimed, key=lambda c: c.id)

    async def claimed(self, token: str, now: datetime) -> list[Claimed]:
        """Rows claimed as they were written (by `token`), ready to deliver now: each still
        leased by it, with no earlier row of its lane, held by anyone else, still pending."""
        earlier = O.alias("earlier")
        blocked = exists().where(
            earlier.c.lane == O.c.lane,
            earlier.c.id < O.c.id,
            earlier.c.state == PENDING,
            or_(earlier.c.claim_token.is_(None), earlier.c.claim_token != token),
        )
        query = (
            select(*COLUMNS, O.c.lease_until, blocked.label("blocked"))
            .where(O.c.claim_token == token, O.c.state == PENDING, O.c.lease_until >= now)
            .order_by(O.c.id)
        )
        async with session.connect(self.engine) as conn:
            rows = (await conn.execute(query)).all()
        ready, held = [], set()
        for row in rows:
            # Order per lane: once a row waits for someone else's, the rest of its lane does.
            if row.blocked or row.lane in held:
                held.add(row.lane)
                continue
            ready.append(Claimed(*row[:-2], token=token, lease_until=row.lease_until))
        if held:
            async with session.begin(self.engine) as conn:
                await conn.execute(
                    update(O)
                    .where(O.c.claim_token == token, O.c.state == PENDING, O.c.lane.in_(held))
                    .values(
                        lease_until=None,
                        claimed_by=None,
                        claim_token=None,
                        attempts=O.c.attempts - 1,
                    )
                )
        return ready

    async def renew(self, token: str, until: datetime) -> set[int]:
        """Extend the lease of rows still claimed by `token`; their ids."""
        async with session.begin(self.engine) as conn:
            rows = await conn.execute(
                update(O)
                .where(O.c.claim_token == token, O.c.state == PENDING)
                .values(lease_until=until)
                .returning(O.c.id)
            )
            return {row.id for row in rows}

    async def results(
        self, ids: Sequence[int]
    ) -> dict[int, tuple[str, dict[str, Any] | None, str]]:
        """id -> (state, result, platform) of the rows asked for."""
        if not ids:
            return {}
        async with session.connect(self.engine) as conn:
            rows = await conn.execute(
                select(O.c.id, O.c.state, O.c.result, O.c.platform).where(
                    O.c.id.in_(list(set(ids)))
                )
            )
            return {row.id: (row.state, row.result, row.platform) for row in rows}

    async def release(self, row: Claimed) -> None:
        """Give back a claimed row that was not attempted (it waits for an earlier one)."""
        async with session.begin(self.engine) as conn:
            await conn.execute(
                update(O)
                .where(O.c.id == row.id, O.c.claim_token == row.token, O.c.state == PENDING)
                .values(
                    lease_until=None, claimed_by=None, claim_token=None, attempts=O.c.attempts - 1
                )
            )

    async def finish(self, row: Claimed, result: dict[str, Any] | None, now: datetime) -> bool:
        """Record a delivery; False if the claim was lost (another worker owns the row now)."""
        return (await self.finish_many([(row, result)], now))[0]

    async def finish_many(
        self, delivered: Sequence[tuple[Claimed, dict[str, Any] | None]], now: datetime
    ) -> list[bool]:
        """Record deliveries in one transaction, each fenced by its claim token."""
        outcomes = []
        async with session.begin(self.engine) as conn:
            for row, result in delivered:
                outcomes.append(await self._finish(conn, row, result, now))
        return outcomes

    async def _finish(
        self, conn: AsyncConnection, row: Claimed, result: dict[str, Any] | None, now: datetime
    ) -> bool:
        done = await conn.execute(
            update(O)
            .where(O.c.id == row.id, O.c.claim_token == row.token, O.c.state == PENDING)
            .values(state=DONE, result=result, finished_at=now, lease_until=None, error=None)
            .returning(O.c.id)
        )
        if done.first() is None:
            return False
        stand_in = placeholder(row.id)
        if row.kind == "create_channel" and result:
            await conn.execute(
                update(I)
                .where(I.c.channel_id == stand_in)
                .values(channel_id=result["id"], channel_name=result["name"])
            )
            await conn.execute(update(O).where(O.c.lane == stand_in).values(lane=result["id"]))
        elif row.kind in ("update", "update_checklist") and result and result.get("moved"):
            for column in ("summary_message_id", "checklist_message_id"):
                await conn.execute(
                    update(I).where(I.c[column] == result["from"]).values({column: result["moved"]})
                )
        elif row.kind in ("post", "post_checklist", "send_page") and result:
            for column in ("summary_message_id", "checklist_message_id"):
                await conn.execute(
                    update(I).where(I.c[column] == stand_in).values({column: result["id"]})
                )
        return True

    async def retry(self, row: Claimed, error: str, at: datetime) -> bool:
        async with session.begin(self.engine) as conn:
            result = await conn.execute(
                update(O)
                .where(O.c.id == row.id, O.c.claim_token == row.token, O.c.state == PENDING)
                .values(
                    available_at=at,
                    lease_until=None,
                    claimed_by=None,
                    claim_token=None,
                    error=error[:500],
                )
                .returning(O.c.id)
            )
            return result.first() is not None

    async def fail(self, row: Claimed, error: str, now: datetime) -> bool:
        async with session.begin(self.engine) as conn:
            result = await conn.execute(
                update(O)
                .where(O.c.id == row.id, O.c.claim_token == row.token, O.c.state == PENDING)
                .values(state=FAILED, error=error[:500], finished_at=now, lease_until=None)
                .returning(O.c.id)
            )
            return result.first() is not None

    async def count(self, state: str = PENDING) -> int:
        async with session.connect(self.engine) as conn:
            rows = await conn.execute(select(O.c.id).where(O.c.state == state))
            return len(rows.all())


WHAT = {
    "create_channel": "creating the channel",
    "invite": "inviting people",
    "set_topic": "setting the topic",
    "post": "posting a message",
    "update": "updating a message",
    "pin": "pinning the summary",
    "post_checklist": "posting the checklist",
    "update_checklist": "updating the checklist",
    "upload": "uploading the postmortem",
    "send_page": "sending a page",
}


async def failed_lines(conn: AsyncConnection, channel_id: str) -> list[str]:
    lanes = [O.c.lane == channel_id]
    own = placeholder_id(channel_id)
    if own is not None:
        lanes.append(O.c.id == own)
    rows = await conn.execute(
        select(O.c.kind, O.c.attempts, O.c.error, O.c.finished_at)
        .where(O.c.state == FAILED, or_(*lanes))
        .order_by(O.c.id)
    )
    return [
        f"{WHAT.get(row.kind, row.kind)} failed after {row.attempts} attempts: {row.error}"
        for row in rows
    ]
