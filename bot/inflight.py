"""How many HTTP requests this process is handling right now: a burst, as the server sees it.

A read is answered in its acknowledgement only outside a burst (bot/chat/slack/worker.py
ANSWER_IN_ACK_MAX). The count a handler keeps itself is not enough: uvicorn makes a task for
every request it has read, and in a burst most of them exist before the first has run, so a
handler that does not wait sees one request at a time. bot/server.py hands over uvicorn's
own set of request tasks.
"""

from __future__ import annotations

from collections.abc import Sized


class InFlight:
    """Requests this process is handling now: those inside the Slack endpoint (`count`) or,
    under uvicorn, every request it has read and not yet answered (`tasks`, its server
    state's set of request tasks; in a burst most exist before they first run, so the
    endpoint alone would see one at a time)."""

    count = 0
    tasks: Sized | None = None

    @classmethod
    def now(cls) -> int:
        return max(cls.count, len(cls.tasks) if cls.tasks is not None else 0)
