"""A per-team budget of alert lines in chat, so a storm is a few posts, not a thousand."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class StormLimit:
    """At most `limit` alert lines per team per sliding `window`. In memory: after a restart
    a team gets a fresh budget, which errs on the side of telling people."""

    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._sent: dict[str, deque[datetime]] = {}

    def take(self, team: str, wanted: int, now: datetime) -> int:
        """How many of `wanted` lines may be posted now (they are counted as posted)."""
        sent = self._sent.setdefault(team, deque())
        while sent and sent[0] <= now - self.window:
            sent.popleft()
        allowed = max(0, min(wanted, self.limit - len(sent)))
        sent.extend([now] * allowed)
        return allowed
