"""The ports the core talks through. Adapters implement them; tests use in-memory ones."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.core.model import (
    Change,
    Incident,
    MessageRow,
    Participant,
    Reminder,
    RoleAssignment,
    StatusUpdate,
    Task,
    TimelineEvent,
)


class StoreUnavailable(Exception):
    """The database cannot be reached (down, failing over, refusing connections). Users are
    told to try again in a minute; nothing they were told is recorded is lost."""


class AlreadyHandled(Exception):
    """The inbound event or command of this transaction was handled before (a redelivery, a
    replay after a crash, another replica): the transaction is rolled back, nothing repeats."""


class Transaction(Protocol):
    effects: list[int]  # outbox rows written in it


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class Store(Protocol):
    async def create_incident(self, incident: Incident) -> Incident:
        """Persist a new incident, giving it the next number (the input's number is ignored)."""
        ...

    async def commit(self, change: Change) -> list[TimelineEvent]:
        """Apply a change atomically; return the events actually recorded (duplicates of an
        existing source_key are skipped)."""
        ...

    async def record_messages(
        self,
        messages: Sequence[MessageRow],
        participants: Sequence[Participant] = (),
        inbox_keys: Sequence[str] = (),
    ) -> list[bool]:
        """Record chat messages (MESSAGE events, empty data) and participants (already known
        ones are skipped) atomically, in bulk: the timeline ingest path. Per message, True if
        recorded, False if its source_key was recorded before or earlier in `messages`.
        `inbox_keys` are marked done in the same transaction."""
        ...

    async def get_incident(self, number: int) -> Incident | None: ...

    async def incident_by_channel(self, platform: str, channel_id: str) -> Incident | None: ...

    async def list_incidents(
        self, *, include_resolved: bool = False, limit: int = 50
    ) -> list[Incident]: ...

    async def incidents_declared_since(self, since: datetime | None) -> list[Incident]:
        """Every incident declared at or after `since` (all when None), resolved or not, oldest
        first: what `warroom report` measures."""
        ...

    async def timeline(self, number: int, *, last: int | None = None) -> list[TimelineEvent]:
        """Events in the order they occurred (ties broken by recording order)."""
        ...

    async def roles(self, number: int) -> list[RoleAssignment]:
        """Every assignment in the order made; the last one per role is the current holder."""
        ...

    async def participants(self, number: int) -> list[Participant]: ...

    async def status_updates(self, number: int) -> list[StatusUpdate]: ...

    async def tasks(self, number: int) -> list[Task]: ...

    # Bulk reads, for work that spans many incidents at once (a batch of due reminders): one
    # query each, however many incidents, instead of one per incident.

    async def incidents_by_number(self, numbers: Collection[int]) -> dict[int, Incident]:
        """The incidents of those numbers that exist."""
        ...

    async def roles_by_incident(self, numbers: Collection[int]) -> dict[int, list[RoleAssignment]]:
        """As `roles`, for each of the incidents (those without any are left out)."""
        ...

    async def tasks_by_incident(self, numbers: Collection[int]) -> dict[int, list[Task]]:
        """As `tasks`, for each of the incidents (those without any are left out)."""
        ...

    async def with_status_updates(self, numbers: Collection[int]) -> set[int]:
        """Which of the incidents have had a status update."""
        ...

    async def claim_request(self, key: str, now: datetime) -> bool:
        """Record an idempotency key; True the first time, False for every repeat. Platform
        retries (Slack's X-Slack-Retry-Num, a double-submitted form) are dropped this way."""
        ...

    async def get_event(self, source_key: str) -> TimelineEvent | None: ...

    def transaction(self, inbox_key: str | None = None) -> AbstractAsyncContextManager[Any]:
        """One atomic unit for an inbound event or command: every store call the task makes
        inside it (and every outbox row its chat calls write) commits together. With
        `inbox_key`, the inbox row is marked done first, in the same transaction; if it was
        done already the block raises AlreadyHandled and nothing is written."""
        ...

    def in_transaction(self) -> bool:
        """Is the calling task inside `transaction()`, whose writes are all kept when it
        commits or all discarded if it fails? (The memory store keeps each commit at once:
        False.) A change made of several commits can then write its rows once, at its end."""
        ...

    async def undelivered(self, number: int) -> list[str]:
        """Chat side effects of an incident that failed for good, as lines for people."""
        ...

    async def update_event(
        self,
        source_key: str,
        *,
        text: str | None = None,
        deleted_at: datetime | None = None,
        data: dict[str, object] | None = None,
    ) -> TimelineEvent | None:
        """Change a recorded event found by its source key (an edited or deleted chat
        message, a highlight); `data` is merged into the event's data. None if not found."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Channel:
    id: str
    name: str


class ChannelNameTaken(Exception):
    """A chat adapter raises this when the platform already has a channel of that name."""


class UploadNotAllowed(Exception):
    """The platform refused a file upload (missing scope, uploads disabled)."""


@dataclass(frozen=True)
class Posting:
    """One post of many made at once (BulkPost). `key` identifies it for good: posting the
    same key twice is a bug the outbox refuses, and a retry after a timeout looks for it."""

    channel_id: str
    text: str
    key: str | None = None


class BulkPost(Protocol):
    """A Chat that can take many posts in one call (the outbox writes them in one statement).
    Optional: the core posts one by one through `Chat.post` where a chat lacks it."""

    async def post_many(self, postings: Sequence[Posting]) -> list[str]:
        """Post each; their message ids, in order."""
        ...


class Chat(Protocol):
    """What the core needs from a chat platform. Replies to the invoking user are not here:
    the core returns them and each adapter sends them its own way (ephemeral, response JSON)."""

    platform: str

    async def create_channel(self, name: str, *, private: bool) -> Channel:
        """Create a channel; raise ChannelNameTaken if the name exists."""
        ...

    async def invite(self, channel: Channel, users: Sequence[str]) -> None: ...

    async def set_topic(self, channel: Channel, topic: str) -> None: ...

    async def post(self, channel_id: str, text: str) -> str:
        """Post a message as the bot; return the platform's message id."""
        ...

    async def update(self, channel_id: str, message_id: str, text: str) -> str | None:
        """Edit a message the bot posted (the pinned incident summary). Where the platform no
        longer allows the edit (Mattermost's PostEditTimeLimit) the text is posted anew and
        pinned in the old one's place: return the new message's id (None: edited in place)."""
        ...

    async def pin(self, channel_id: str, message_id: str) -> None: ...

    async def post_checklist(self, channel_id: str, incident: Incident, tasks: list[Task]) -> str:
        """Post the incident's tasks (with done/skip buttons where the platform has them);
        return the message id so it can be updated in place."""
        ...

    async def update_checklist(
        self, channel_id: str, message_id: str, incident: Incident, tasks: list[Task]
    ) -> str | None:
        """Redraw the checklist message; like update(), the id of a new message if it had to
        be posted again, None if it was edited in place."""
        ...

    async def upload(self, channel_id: str, filename: str, content: bytes, title: str) -> None:
        """Upload a file to the channel; raise UploadNotAllowed to make the caller fall back
        to posting the text."""
        ...

    def channel_link(self, channel: Channel) -> str:
        """How to refer to a channel in a message on this platform."""
        ...

    async def send_page(self, user: str, incident: Incident, text: str) -> str:
        """Send `user` a direct message with an Acknowledge button for the incident; return
        the message id. Raise on failure (the pager says so in the channel)."""
        ...


class ExternalPager(Protocol):
    """Paging through a service outside chat (PagerDuty Events API v2: bot/pagerduty.py).
    `dedup_key` ties trigger, acknowledge and resolve to one alert."""

    async def send(
        self, action: str, routing_key: str, dedup_key: str, summary: str, severity: str
    ) -> None:
        """action: trigger | acknowledge | resolve. Raise ExternalPagerError if refused."""
        ...


class ExternalPagerError(Exception):
    """The paging service refused or could not take an event; str() says why."""


class Reminders(Protocol):
    """Durable reminders (the Scheduler port). `claim_due` must hand each due reminder to one
    claimant only, even with several bot processes on one database."""

    async def schedule(self, reminder: Reminder) -> Reminder | None:
        """Store a pending reminder; None if one with the same key exists already."""
        ...

    async def schedule_many(self, reminders: Sequence[Reminder]) -> list[Reminder | None]:
        """As `schedule` for many in one statement, in order (a repeated key: the first)."""
        ...

    async def cancel(self, incident_number: int, kinds: Sequence[str] | None = None) -> int:
        """Cancel pending reminders of an incident (of the given kinds); return how many."""
        ...

    async def pending(self, incident_number: int) -> list[Reminder]: ...

    async def claim_due(
        self,
        me: str,
        now: datetime,
        *,
        limit: int = 50,
        lease_seconds: int = 60,
        due_by: datetime | None = None,
    ) -> list[Reminder]:
        """Claim up to `limit` pending reminders due by `due_by` (default `now`) whose lease
        is free at `now`; the lease runs `lease_seconds` from `now`."""
        ...

    async def mark_fired(self, reminder_id: int, me: str, now: datetime) -> bool:
        """Record that a claimed reminder fired; False if the claim was lost meanwhile."""
        ...

    async def mark_fired_many(self, ids: Collection[int], me: str, now: datetime) -> set[int]:
        """As `mark_fired` for many in one statement: the ids still claimed by `me`, now fired."""
        ...

    async def renew(self, ids: Collection[int], me: str, until: datetime) -> set[int]:
        """Extend the lease of pending reminders still claimed by `me` to `until`; their ids
        (the others were taken over after their lease ran out, or fired)."""
        ...

    async def retry(
        self, reminder_id: int, me: str, attempts: int, error: str, until: datetime
    ) -> bool:
        """A claimed reminder failed to fire: record the attempt and hold it until `until`
        (its backoff); False if the claim was lost meanwhile."""
        ...

    async def fail(self, reminder_id: int, me: str, attempts: int, error: str) -> bool:
        """A claimed reminder failed its last attempt: mark it failed for good."""
        ...


class Accepted:
    """How an inbound item was taken (Inbox.accept)."""

    NEW = "new"  # recorded; handle it
    DUPLICATE = "duplicate"  # recorded before: acknowledge, do nothing
    SPOOLED = "spooled"  # database away: in the local journal, handled once it is back
    # Recorded and handled in the same transaction (a message posted: appended to the
    # timeline by the group commit that recorded its event): nothing left to do.
    DONE = "done"


class Inbox(Protocol):
    """Inbound events and commands, recorded durably before they are acknowledged."""

    async def accept(
        self,
        key: str,
        platform: str,
        kind: str,
        payload: dict[str, Any],
        *,
        spool: bool = True,
        message: Any = None,
    ) -> str:
        """Record an item (group commits: one transaction serves a burst); an Accepted value.
        When the database is away, `spool` items go to the local journal (SPOOLED); others
        raise StoreUnavailable, so the caller can say so. An item whose whole handling is
        appending `message` (an IncomingMessage) to the timeline may be handled in the same
        transaction (DONE); otherwise it is NEW and the caller handles it."""
        ...

    async def finish(self, key: str) -> bool:
        """Mark done an item whose handling needed no transaction (a read); False if it was
        done already (answered elsewhere: say nothing)."""
        ...


class Settle:
    DELIVERED = "delivered"
    RETRYING = "retrying"  # an attempt failed; the outbox tries again
    PENDING = "pending"  # not yet attempted in the time waited


class Deliveries(Protocol):
    """The outbox as a command's reply sees it."""

    async def settle(self, effects: Sequence[int], timeout: float) -> str:  # noqa: ASYNC109
        """Wait up to `timeout` for the effects to be delivered; a Settle value."""
        ...

    async def resolve(self, text: str) -> str:
        """Text with the stand-ins for not-yet-created channels replaced where known."""
        ...
