"""The ambient transaction: one inbound event or command is one database transaction.

`transaction(engine)` opens a connection and makes it the current task's ambient one; every
store, reminder, inbox and outbox call made by that task on the same engine runs on it, so the
change a command makes, the chat side effects it causes (outbox rows) and the inbox row it
marks done commit together or not at all. Calls from other tasks (the ingest worker, the
outbox worker) are never drawn into it.

Connection failures are translated to the core's StoreUnavailable here, in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.ports import StoreUnavailable
from bot.store import sqlite_driver


@dataclass(eq=False)
class Transaction:
    engine: AsyncEngine
    conn: AsyncConnection
    task: asyncio.Task[object] | None
    # Outbox rows written in it (their ids), for the reply that waits for them.
    effects: list[int] = field(default_factory=list)
    # Rows the local outbox worker claimed as they were written (bot/store/outbox.py), under
    # `claim_token`; handed to it by a `committed` hook, so nobody claims them a second time.
    claim_token: str | None = None
    claimed: list[Any] = field(default_factory=list)
    # Called, in order, once the transaction has committed (never after a rollback).
    committed: list[Callable[[], None]] = field(default_factory=list)
    # Called, in order, once its commit is under way (`Committing`; on SQLite beside the
    # fsync): for work that may be prepared while it commits and must wait for the outcome.
    committing: list[Callable[[Committing], None]] = field(default_factory=list)
    # Awaited, in order, just before it commits: inside it and still the ambient one, and only
    # if the body ended without an error; a hook that fails rolls it back. The outbox inserts
    # the rows it held back here (bot/store/outbox.py), in one statement.
    before_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # The outbox's rows written in it and not inserted yet, and the ids it reserved for them.
    outbox: Any = None


@dataclass(eq=False)
class Committing:
    """A transaction on its way to the disk. `under_way`: the commit is running and the loop
    is free for other work (on SQLite, once its thread is in the fsync: work started before
    would hold the thread back from it, as the two share the GIL); `outcome`: True once it
    committed, False if it failed (nothing of it was written)."""

    under_way: asyncio.Future[None]
    outcome: asyncio.Future[bool]


class Outcome(asyncio.Future[bool]):
    """A transaction's outcome, which the database says: cancelling a task that awaits it
    does not cancel it (the task's cancellation waits for it instead, at most the commit).
    So the calls held for it await it directly, where `asyncio.shield` would cost a turn of
    the loop before a held call's bytes leave."""

    def cancel(self, msg: Any = None) -> bool:
        return False


_current: ContextVar[Transaction | None] = ContextVar("warroom_transaction", default=None)


def ambient(engine: AsyncEngine) -> Transaction | None:
    tx = _current.get()
    if tx is not None and tx.engine is engine and tx.task is asyncio.current_task():
        return tx
    return None


def unavailable(error: BaseException) -> bool:
    """Is this the database being unreachable (rather than a bug or a constraint)?"""
    if isinstance(error, (OSError, socket.gaierror, ConnectionError, TimeoutError)):
        return True
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated) or "connection" in str(error.orig).lower()
    name = type(error).__name__
    return name in {"CannotConnectNowError", "ConnectionDoesNotExistError", "AdminShutdown"}


@contextlib.asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as error:
        if unavailable(error):
            raise StoreUnavailable(str(error).splitlines()[0][:200]) from error
        raise


@contextlib.asynccontextmanager
async def _joined(engine: AsyncEngine, *, write: bool) -> AsyncIterator[AsyncConnection]:
    tx = ambient(engine)
    if tx is not None:
        yield tx.conn
        return
    async with _translated(), engine.begin() if write else engine.connect() as conn:
        yield conn


def connect(engine: AsyncEngine) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
    """A connection for reading: the ambient transaction's, or a new one."""
    return _joined(engine, write=False)


def begin(engine: AsyncEngine) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
    """A connection in a transaction: the ambient one (committed with it), or a new one."""
    return _joined(engine, write=True)


@contextlib.asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[Transaction]:
    """Make a new transaction the ambient one for this task (nested calls join it)."""
    tx = ambient(engine)
    if tx is not None:
        yield tx
        return
    async with _translated(), engine.connect() as conn:
        committing: Committing | None = None
        try:
            async with conn.begin():
                tx = Transaction(engine, conn, asyncio.current_task())
                token = _current.set(tx)
                try:
                    yield tx
                    for before in tx.before_commit:  # (a hook may add hooks: they run too)
                        await before()
                finally:
                    _current.reset(token)
                if tx.committing:
                    loop = asyncio.get_running_loop()
                    committing = Committing(loop.create_future(), Outcome(loop=loop))
                    under_way = functools.partial(_under_way, tx.committing, committing)
                    committed = functools.partial(_resolve, committing.outcome, True)
                    if not sqlite_driver.while_committing(conn, under_way, committed):
                        under_way()  # (a server's commit: a round trip the loop waits for)
            # (leaving the block committed it)
        except BaseException:
            if committing is not None:
                _resolve(committing.under_way, None)
                _resolve(committing.outcome, False)
            raise
        if committing is not None:
            _under_way(tx.committing, committing)  # (run already, unless no commit was needed)
            _resolve(committing.outcome, True)
            # Two turns of the loop for the call held until now (its hold wakes, then its
            # bytes go) before the rest of this command, which waits for that call anyway.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        # The hooks run before the connection goes back to the pool: its reset there is not
        # on the way to the post.
        for hook in tx.committed:
            hook()


def _under_way(prepare: list[Callable[[Committing], None]], committing: Committing) -> None:
    """The commit is running: hand it to the `committing` hooks (once). On SQLite they run
    beside its fsync (their work, planning the outbox's delivery, is then off the path of
    the first call), and before anything else on the loop, so in the order of the commits."""
    if committing.under_way.done():
        return
    committing.under_way.set_result(None)
    for hook in prepare:
        hook(committing)


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)
