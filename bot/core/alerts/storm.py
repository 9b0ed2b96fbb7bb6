"""A per-team budget of alert lines in chat, so a storm is a few posts, not a thousand."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class Overflow:
    """The one "and N more alerts" message of a team's storm in an incident's channel."""

    message_id: str
    count: int
    since: datetime


class StormLimit:
    """At most `limit` alert lines per team per sliding `window`. In memory: after a restart
    a team gets a fresh budget, which errs on the side of telling people."""

    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._sent: dict[str, deque[datetime]] = {}
        self._overflow: dict[tuple[str, int], Overflow] = {}

    def take(self, team: str, wanted: int, now: datetime) -> int:
        """How many of `wanted` lines may be posted now (they are counted as posted)."""
        sent = self._sent.setdefault(team, deque())
        while sent and sent[0] <= now - self.window:
            sent.popleft()
        allowed = max(0, min(wanted, self.limit - len(sent)))
        sent.extend([now] * allowed)
        return allowed

    def overflow(self, team: str, incident: int, now: datetime) -> Overflow | None:
        """The storm's "and N more" message in this incident, if one is current."""
        found = self._overflow.get((team, incident))
        if found is not None and found.since <= now - self.window:
            del self._overflow[(team, incident)]
            return None
        return found

    def overflowed(self, team: str, incident: int, overflow: Overflow) -> None:
        self._overflow[(team, incident)] = overflow
