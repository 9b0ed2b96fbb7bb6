"""A per-team budget of alert lines in chat, so a storm is a few posts, not a thousand.

The budget is the store's (AlertStore.take), counted in the transaction that records the
alerts, so replicas on one database share it: per team at most `limit` lines per window, and
per incident one "and N more alerts" message per window, posted by whoever first goes past
the limit and edited by the rest. Windows are fixed (aligned to the epoch), so they have one
key in every replica; a burst across a window's end may get up to twice the limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Ask:
    """A save's claim on its team's budget: `wanted` alert lines for an incident's channel."""

    team: str
    window: datetime  # the window's start (window_start)
    incident: int
    wanted: int
    limit: int


@dataclass(frozen=True)
class Share:
    """What the budget gives an Ask."""

    lines: int  # how many of the wanted lines may be posted (counted as posted)
    more: int  # lines held back in this incident in this window so far, these included
    # The window's "and N more" message in this incident; None while `more` > 0: this save
    # posts it (and records it with AlertStore.overflowed).
    message_id: str | None = None


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window `now` falls in."""
    seconds = window.total_seconds()
    start = (now.timestamp() // seconds) * seconds
    return datetime.fromtimestamp(start, UTC)


def allowed(ask: Ask, total: int) -> int:
    """How many of the ask's lines fit, `total` being the window's count with them."""
    before = total - ask.wanted
    return max(0, min(ask.wanted, ask.limit - before))


class MemoryBudget:
    """The budget in memory, with the SQL store's semantics (one asyncio thread: each call
    is atomic)."""

    def __init__(self) -> None:
        self._lines: dict[tuple[str, datetime], int] = {}
        self._more: dict[tuple[str, datetime, int], tuple[int, str | None]] = {}

    def take(self, ask: Ask) -> Share:
        key = (ask.team, ask.window)
        total = self._lines.get(key, 0) + ask.wanted
        self._lines[key] = total
        if total == ask.wanted:  # the team's first lines in this window: forget older ones
            self._forget(ask)
        lines = allowed(ask, total)
        if lines == ask.wanted:
            return Share(lines, 0)
        more, message_id = self._more.get((*key, ask.incident), (0, None))
        more += ask.wanted - lines
        self._more[(*key, ask.incident)] = (more, message_id)
        return Share(lines, more, message_id)

    def overflowed(self, ask: Ask, message_id: str) -> None:
        key = (ask.team, ask.window, ask.incident)
        self._more[key] = (self._more.get(key, (0, None))[0], message_id)

    def _forget(self, ask: Ask) -> None:
        for key in [k for k in self._lines if k[0] == ask.team and k[1] < ask.window]:
            del self._lines[key]
        for more in [k for k in self._more if k[0] == ask.team and k[1] < ask.window]:
            del self._more[more]
