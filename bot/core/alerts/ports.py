"""What alert intake needs from storage and, optionally, from a chat platform."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.core.alerts.groups import AlertGroup, AlertRow
from bot.core.alerts.storm import Ask, Share
from bot.core.model import Incident, TimelineEvent

# A group as stored: the group, its alerts, and its incident (None without one), read together.
Stored = tuple[AlertGroup, list[AlertRow], Incident | None]


@dataclass
class Claim:
    """The right to link a group to an incident, held for one transaction."""

    won: bool  # False: another process linked the group first (reload it)
    effects: list[int] = field(default_factory=list)  # outbox rows written inside it


class AlertStore(Protocol):
    async def load(self, source: str, group_key: str) -> Stored | None:
        """The group's newest generation, its alerts and its incident; None if never seen."""
        ...

    async def get(self, group_id: int) -> Stored | None: ...

    async def create(self, group: AlertGroup) -> AlertGroup | None:
        """Store a new group (or generation), giving it an id; None if another process
        created the same (source, group_key, generation) first."""
        ...

    async def save(
        self,
        group: AlertGroup,
        rows: Sequence[AlertRow],
        events: Sequence[TimelineEvent] = (),
        tell: Callable[[list[TimelineEvent]], Awaitable[None]] | None = None,
    ) -> list[TimelineEvent]:
        """Update the group row, insert or update the given alert rows and record the
        timeline events (those whose source_key exists are skipped), in one transaction;
        the events actually recorded. `tell(recorded)` runs inside that transaction: the chat
        posts it makes (outbox rows, on a database) commit with the alerts they are about.
        A link, offer message or channel the stored group has is never undone by a stale
        copy; `group.incident_number` is set to what the database holds after the save
        (another replica may have linked the group meanwhile)."""
        ...

    def claim(self, group_id: int, service: str | None) -> AbstractAsyncContextManager[Claim]:
        """A transaction in which this process alone may link the group to an incident
        (declare one, or find the service's open one with `open_incident`, then `link`):
        won only while the group has no incident. Everything done inside (the declaration,
        its outbox rows, the link) commits together or not at all. With `service`, groups of
        that service are linked one at a time across processes too."""
        ...

    async def link(self, group_id: int, incident_number: int) -> bool:
        """The group is this incident's, unless it is linked already (False): atomic on its
        own (attaching to an open incident), or inside a won claim (declaring)."""
        ...

    async def open_incident(self, service: str) -> Incident | None:
        """The service's open incident (the newest, if several): a keyed lookup."""
        ...

    async def take(self, ask: Ask) -> Share:
        """Count the ask's lines against its team's storm budget and say how many may be
        posted, and how many this incident has held back in the window. Atomic across
        processes sharing the store; inside a save's `tell` it commits with the save."""
        ...

    async def overflowed(self, ask: Ask, message_id: str) -> None:
        """Record the window's "and N more" message of the ask's incident (the save whose
        Share had no message id posted it)."""
        ...

    async def groups_of(self, incident_number: int) -> list[AlertGroup]: ...

    async def first_alerts(self, incident_numbers: Sequence[int]) -> dict[int, datetime]:
        """The earliest alert start among each incident's groups (incidents without alerts
        are left out): the start of time to detect."""
        ...


@runtime_checkable
class OfferChat(Protocol):
    """A chat that can show an alert offer with a "Declare incident" button. Platforms
    without one get the offer as plain text."""

    async def post_offer(self, channel_id: str, text: str, offer_id: int) -> str: ...

    async def update_offer(
        self, channel_id: str, message_id: str, text: str, offer_id: int | None
    ) -> None:
        """Redraw the offer; `offer_id` None drops the button (declared already)."""
        ...


@runtime_checkable
class DirectChat(Protocol):
    """A chat that can open the bot's direct-message channel with a person: where an offer
    goes for a `to: oncall` rule. The same channel a page's direct message goes to
    (Chat.send_page opens it the same way)."""

    async def direct_channel(self, user: str) -> str:
        """The id of the bot's direct-message channel with `user` (opened if need be); raise
        when the platform does not know the user."""
        ...
