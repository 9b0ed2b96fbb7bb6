"""SQLite for the async engine, run on the event loop: statements without thread hand-offs.

SQLAlchemy's aiosqlite dialect makes every statement four calls into aiosqlite's thread
(open a cursor, execute, fetch, close), each a queue put, a wake-up of that thread and a
`call_soon_threadsafe` back. On a loaded 2-core machine every one of those waits for the OS
to schedule a thread, and a declaration's transaction of 30 statements spent most of its 40
ms travelling between threads, while SQLite itself needs tens of microseconds for a small
statement. So this driver keeps aiosqlite's interface, which SQLAlchemy's dialect drives, and
runs each statement at once with the standard library's sqlite3, on the loop. Only the
commit, whose fsync of the WAL is the one slow step (0.4 ms idle, several under load), goes
to a worker thread, so that the loop goes on acknowledging requests meanwhile (a burst of
message events: 1,188 -> 1,375 recorded per second).

What a thread gave for free is done here:
- **Writers wait without blocking the loop.** SQLite has one writer. Two transactions of this
  process writing at once would make the second spin in SQLite's busy handler, on the loop,
  while the first (suspended at an await) could never finish. So a connection takes an
  asyncio lock of its database file before its first write of a transaction and gives it back
  when the transaction ends; other writers wait on the lock, readers never do (WAL). A lock
  held longer than `LOCK_TIMEOUT` fails the waiter with "database is locked", as SQLite's
  `busy_timeout` did. Another process's writer (a CLI command appending an event) is still
  waited for by SQLite itself, for its few milliseconds.
- **Reads are short.** A read runs to its end before the loop goes on: warroom's reads are a
  few rows, but the largest, an export's timeline of 10,000 events, takes about 50 ms.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import queue
import sqlite3
import threading
import types
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

LOCK_TIMEOUT = 5.0  # seconds a writer waits for another transaction of this process
# Seconds the loop waits at most for the commit's thread to begin (Connection.commit).
ENTER_TIMEOUT = 0.005
# Statements that never start a write transaction (sqlite3 begins one before DML only).
_READS = ("SELECT", "PRAGMA", "EXPLAIN", "VALUES")

# One lock per database file and event loop (tests run many loops; a lock belongs to one).
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _in_memory(database: str) -> bool:
    # One connection, shared through SQLAlchemy's StaticPool: nobody to wait for.
    return (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or ("mode=memory" in database)
    )


def _write_lock(database: str) -> asyncio.Lock:
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(database, asyncio.Lock())


class Cursor:
    """One statement's outcome: run by `execute`, then read without further work."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._rows: list[Any] = []
        self._at = 0
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, sql: str, run: Callable[[sqlite3.Cursor], object]) -> Cursor:
        await self._conn._before(sql)
        cursor = self._conn._conn.cursor()
        try:
            run(cursor)
            self._rows = cursor.fetchall() if cursor.description else []
            self._at = 0
            self.description, self.rowcount = cursor.description, cursor.rowcount
            self.lastrowid = cursor.lastrowid
        finally:
            cursor.close()
            self._conn._after()
        return self

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        params = () if parameters is None else parameters
        return await self._run(sql, lambda cursor: cursor.execute(sql, params))

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Cursor:
        return await self._run(sql, lambda cursor: cursor.executemany(sql, parameters))

    async def fetchone(self) -> Any:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        end = self._at + (self.arraysize if size is None else size)
        chunk = self._rows[self._at : end]
        self._at += len(chunk)
        return chunk

    async def fetchall(self) -> Sequence[Any]:
        chunk = self._rows[self._at :]
        self._at = len(self._rows)
        return chunk

    async def close(self) -> None:
        self._rows, self._at = [], 0

    async def nextset(self) -> None:
        return None


class _Now:
    """Stands in for aiosqlite's queue to its thread, which SQLAlchemy's isolation-level
    setter uses directly: the function runs at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the waiter, as the thread would
            if future is not None:
                future.set_exception(error)
        else:
            if future is not None:
                future.set_result(result)


class Connection:
    """The part of aiosqlite's Connection that SQLAlchemy's dialect uses."""

    def __init__(self, conn: sqlite3.Connection, database: str) -> None:
        self._connection: sqlite3.Connection | None = conn
        self._database = database
        self._lock: asyncio.Lock | None = None  # held while this connection writes
        self._tx = _Now()
        self._thread = types.SimpleNamespace(daemon=True)  # the dialect sets it

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    async def _before(self, sql: str) -> None:
        if self._lock is not None or self._conn.in_transaction or _in_memory(self._database):
            return
        if sql.lstrip()[:8].upper().startswith(_READS):
            return
        lock = _write_lock(self._database)
        try:
            if lock.locked():
                await asyncio.wait_for(lock.acquire(), LOCK_TIMEOUT)
            else:
                await lock.acquire()  # at once
        except TimeoutError:
            raise sqlite3.OperationalError(
                "database is locked (another transaction of this process kept it)"
            ) from None
        self._lock = lock

    def _after(self) -> None:
        # A transaction ended (a commit, a rollback, an autocommitted statement): let the
        # next writer in.
        if self._lock is not None and (self._connection is None or not self._conn.in_transaction):
            self._lock, lock = None, self._lock
            lock.release()

    def cursor(self) -> Cursor:
        return Cursor(self)

    # The coming commit's `under_way` and `committed` callbacks (see while_committing).
    _beside: tuple[Callable[[], None], Callable[[], None]] | None = None

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        beside, self._beside = self._beside, None
        try:
            if self._conn.in_transaction:
                # The one slow step: the fsync of the WAL (0.4 ms idle, several under load).
                # On a thread, so that the loop goes on acknowledging meanwhile; the write
                # lock stays held, and nothing else uses this connection until it is back.
                loop = asyncio.get_running_loop()
                done = loop.create_future()
                if beside is None:
                    _COMMITTER.submit(self._conn, loop, done)
                else:
                    under_way, committed = beside
                    entered = _COMMITTER.submit(self._conn, loop, done, committed)
                    # The loop waits (tens of microseconds, the GIL let go) until the thread
                    # is in the commit, so that the work `under_way` starts runs beside the
                    # fsync instead of holding the thread back from it (the thread needs the
                    # GIL to begin, and would wait for that work to finish).
                    entered.acquire(timeout=ENTER_TIMEOUT)
                    beside = None
                    under_way()
                await done
        finally:
            if beside is not None:
                beside[0]()  # (at the latest: the commit never began, or had nothing to do)
            self._after()

    async def rollback(self) -> None:
        self._beside = None  # (set for a commit that never came: not the next one's)
        try:
            self._conn.rollback()
        finally:
            self._after()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._after()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level


class _Committer:
    """The thread that runs every commit of this driver's connections, waiting on a queue
    between them. Traced on the 2-core machine, a thread that is already waiting takes the
    commit sooner than the default executor's (no future, work item or thread-count
    bookkeeping on the way in): a status update's commit 0.17 -> 0.13 ms before its fsync
    began. One thread is enough: a file has one writer at a time (the write lock).

    A daemon thread, so that a process never waits for it to be idle; but at exit (atexit,
    before the interpreter tears down) it finishes the commit it is in and stops, as the
    default executor's threads were joined: a commit still running while the interpreter
    finalizes could crash the process (a `warroom run` ended mid-commit exited -11, once in
    a loaded suite run) and leaves its transaction to SQLite's recovery."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._stop_registered = False

    def submit(
        self,
        conn: sqlite3.Connection,
        loop: asyncio.AbstractEventLoop,
        done: asyncio.Future[None],
        committed: Callable[[], None] | None = None,
    ) -> threading.Lock:
        """Queue `conn`'s commit, whose outcome `done` gets (and `committed`, called first
        on success); the lock returned is released once the thread is in the commit."""
        if self._thread is None or not self._thread.is_alive():
            with self._start:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="warroom-sqlite-commit", daemon=True
                    )
                    self._thread.start()
                    if not self._stop_registered:
                        atexit.register(self.stop)
                        self._stop_registered = True
        entered = threading.Lock()
        entered.acquire()
        self._jobs.put((conn, loop, done, entered, committed))
        return entered

    def stop(self, timeout: float = 10.0) -> None:
        """Let the thread finish what is queued, then end it (at exit)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._jobs.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            conn, loop, done, entered, committed = job
            entered.release()
            error: BaseException | None = None
            try:
                conn.commit()  # sqlite3 lets go of the GIL for it
            except BaseException as failed:  # handed to the waiter, as an executor would
                error = failed
            with contextlib.suppress(RuntimeError):  # (its loop closed meanwhile)
                loop.call_soon_threadsafe(_settle, done, error, committed)
            del conn, loop, done, committed, error  # (nothing kept alive while it waits)


def _settle(
    done: asyncio.Future[None], error: BaseException | None, committed: Callable[[], None] | None
) -> None:
    if error is None and committed is not None:
        # The commit returned in its thread: it is on disk, whatever the unwinding through
        # SQLAlchemy meets. Said at once, and the unwinding a turn later: a call held for it
        # (two turns: its hold, then its bytes) leaves before it (0.1 ms of Python).
        committed()
        asyncio.get_running_loop().call_soon(_settle, done, None, None)
        return
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


_COMMITTER = _Committer()


def while_committing(
    conn: Any, under_way: Callable[[], None], committed: Callable[[], None]
) -> bool:
    """Call `under_way` once this engine connection's coming commit is running beside the
    loop (Connection.commit), and `committed` on the loop as soon as it has returned in its
    thread (not if it failed). False, and nothing set, where it is not this driver's."""
    driver = conn.sync_connection.connection.driver_connection
    if not isinstance(driver, Connection) or driver._connection is None:
        return False
    driver._beside = (under_way, committed)
    return True


def has_written(conn: Any) -> bool:
    """Has this engine connection (an AsyncConnection on this driver) begun writing? Until
    its first write sqlite3 runs its statements in autocommit (the BEGIN comes before the
    first DML), so a read on another connection of the file sees exactly what this one
    would."""
    driver = conn.sync_connection.connection.driver_connection
    # Not this driver's, or closed: say yes, so that the caller takes the engine's way.
    if not isinstance(driver, Connection) or driver._connection is None:
        return True
    return driver._connection.in_transaction


def execute_in_place(conn: Any, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Run a statement on this engine connection's own sqlite3 connection, without
    SQLAlchemy's execution machinery around it (0.3 ms on the 2-core machine, 0.02 ms in
    SQLite): for parameters already in SQLite's form and rows that need no conversion,
    inside a transaction that has written (it holds the file's write lock)."""
    driver = conn.sync_connection.connection.driver_connection
    return list(driver._conn.execute(sql, params))


class _Connecting:
    """What `connect` returns: awaited by the dialect, as aiosqlite's connection is."""

    def __init__(self, database: str, kwargs: dict[str, Any]) -> None:
        self._database, self._kwargs = database, kwargs
        self._thread = types.SimpleNamespace(daemon=True)

    def __await__(self) -> Any:
        yield from ()
        # The commit runs on a worker thread (Connection.commit), everything else on the loop.
        kwargs = {**self._kwargs, "check_same_thread": False}
        return Connection(sqlite3.connect(self._database, **kwargs), self._database)


def connect(database: str, **kwargs: Any) -> _Connecting:
    kwargs.pop("iter_chunk_size", None)
    return _Connecting(database, kwargs)


def _module() -> types.ModuleType:
    module = types.ModuleType("warroom_sqlite")
    module.__dict__.update({name: getattr(aiosqlite, name) for name in aiosqlite.__all__})
    module.__dict__.update(connect=connect, Connection=Connection, Cursor=Cursor)
    return module


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The `module=` for create_async_engine on an sqlite+aiosqlite URL."""
    return AsyncAdapt_aiosqlite_dbapi(_module(), sqlite3)
