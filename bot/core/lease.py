"""Holding a lease while waiting.

The outbox worker leases the rows it delivers; a platform adapter that is about to wait (a
429's Retry-After) calls `hold_for(seconds)` first, so the lease covers the wait and no other
replica takes the row meanwhile. Outside a delivery it does nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

Keepalive = Callable[[float], Awaitable[None]]

keepalive: ContextVar[Keepalive | None] = ContextVar("warroom_lease_keepalive", default=None)


async def hold_for(seconds: float) -> None:
    extend = keepalive.get()
    if extend is not None:
        await extend(seconds)
