"""Knowing when a call's request goes out, and holding it until it may.

Calls made side by side on one event loop are built one after another, and aiohttp (on
Python 3.11) writes a request's body in a task of its own, queued behind whatever else is
ready. So when the outbox starts a status post and its announcement together, the post's
bytes wait until the announcement has been built (about half a millisecond). A platform
adapter whose client can tell awaits `sending()` just before a request's first bytes are
written (nothing of it is on the wire yet). The outbox worker (bot/schedule/outbox.py) then
starts building the next call; and it builds the first call of a transaction while that
transaction commits, holding its bytes here until the commit has returned (and for ever, if
it rolled back: the call fails with NotCommitted and is never sent). Outside a delivery it
does nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

Sending = Callable[[], Awaitable[None]]

on_sending: ContextVar[Sending | None] = ContextVar("warroom_on_sending", default=None)


class NotCommitted(Exception):
    """The transaction that wrote this call's row rolled back: the call must not go out."""


async def sending() -> None:
    callback = on_sending.get()
    if callback is not None:
        await callback()
