"""Knowing when a call's request is on the wire.

Calls made side by side on one event loop are built one after another, and aiohttp (on
Python 3.11) writes a request's body in a task of its own, queued behind whatever else is
ready. So when the outbox starts a status post and its announcement together, the post's
bytes wait until the announcement has been built (about half a millisecond). A platform
adapter whose client can tell calls `sent()` the moment a request goes out; the outbox
worker starts building the next call only then (bot/schedule/outbox.py). Outside a delivery
it does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

on_sent: ContextVar[Callable[[], None] | None] = ContextVar("warroom_on_sent", default=None)


def sent() -> None:
    callback = on_sent.get()
    if callback is not None:
        callback()
