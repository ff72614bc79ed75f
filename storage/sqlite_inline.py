"""SQLite for the async engine without a thread hop per statement.

aiosqlite runs every cursor call, fetch and commit in its connection's thread and hands
the result back through the event loop. Under load each of those hops queues behind
every ready callback, and sqlite3 lets go of the GIL in each call, after which the
thread waits for the busy loop to hand it back: a signing request made some fifty such
hops (docs/benchmarks.md, "The whole signing flow"). The statements themselves take
microseconds.

`connect` gives SQLAlchemy's aiosqlite dialect (through `create_async_engine(...,
async_creator=...)`) a connection with aiosqlite's interface whose coroutines run the
sqlite3 call at once, on the event loop, and return without suspending: an awaited
coroutine that never suspends does not go through the loop. So a transaction's
statements run back to back, as in `Database.run_writes`.

The loop must never sleep in SQLite's busy handler, so the connection's busy timeout is
0. A call that finds the database locked (another process holds the write lock: a CLI
command, a migration; or a reader meets a checkpoint's brief lock) is run again in a
thread with a waiting busy timeout, which is safe: a statement that fails with
SQLITE_BUSY has had no effect. Within this process, writers queue on
`storage.uow.WriteTurn` before they BEGIN IMMEDIATE, so they never meet each other here.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
# Prepared statements kept per connection (sqlite3's default is 128). The server runs a
# few hundred distinct statements; past the cache's size each one is parsed and planned
# again on every use, on the event loop.
CACHED_STATEMENTS = 1024
_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _BUSY_CODES


class InlineConnection:
    """The part of `aiosqlite.Connection` that SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # the dialect checks it
        self._tx = _InlineQueue()  # the dialect's isolation_level setter posts here

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        # Locked by another process: wait for it in a thread, never on the loop.
        return await asyncio.to_thread(_waiting, self._conn, fn, args)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        cursor = InlineCursor(self)
        await cursor.execute(sql, parameters)
        return cursor

    async def commit(self) -> None:
        await self._call(self._conn.commit)

    async def rollback(self) -> None:
        await self._call(self._conn.rollback)

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


class InlineCursor:
    """The part of `aiosqlite.Cursor` that SQLAlchemy's async cursor adapter uses."""

    def __init__(self, owner: InlineConnection) -> None:
        self._owner = owner
        self._cursor = owner._conn.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        if parameters is None:
            await self._owner._call(self._cursor.execute, sql)
        else:
            await self._owner._call(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Iterable[Any]) -> InlineCursor:
        await self._owner._call(self._cursor.executemany, sql, list(seq))
        return self

    async def fetchone(self) -> Any:
        return await self._owner._call(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        if size is None:
            return await self._owner._call(self._cursor.fetchmany)
        return await self._owner._call(self._cursor.fetchmany, size)

    async def fetchall(self) -> Sequence[Any]:
        return await self._owner._call(self._cursor.fetchall)

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None


class _InlineQueue:
    """aiosqlite's request queue, as far as the dialect's isolation_level setter uses it:
    the function runs at once and the future is settled."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as exc:
            if future is not None:
                future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


def _waiting(conn: sqlite3.Connection, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        return fn(*args)
    finally:
        conn.execute("PRAGMA busy_timeout=0")


def creator(database: str) -> Callable[[], Any]:
    """The `async_creator` for `create_async_engine` on the SQLite file `database`."""

    async def connect() -> InlineConnection:
        # Opening may wait for a lock (WAL set-up): in a thread, like the fallback above.
        conn = await asyncio.to_thread(
            sqlite3.connect, database, timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False, isolation_level=None,
            cached_statements=CACHED_STATEMENTS)
        return InlineConnection(conn)

    return connect
