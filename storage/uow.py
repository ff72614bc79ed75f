"""Unit of work: one transaction, plus hooks that run only after it commits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import sqlite_sync_twin

T = TypeVar("T")

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None] | None]


class Tx:
    """What a service sees inside a transaction: the session and an after-commit list."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)

    async def _run_after_commit(self) -> None:
        for hook in self._after_commit:
            try:
                result = hook()
                if result is not None:
                    await result
            except Exception:  # a hook must never undo a committed transaction
                log.exception("after-commit hook failed")


class Database:
    """Sessions for reading (`sessions()`) and one-transaction writes (`transaction()`).

    On SQLite only one writer can hold the database at a time. Writers inside this
    process queue on an asyncio lock instead of in SQLite's busy handler, whose
    back-off sleeps (up to 100 ms a try) would otherwise add seconds under load; reads
    use a deferred BEGIN and never wait for writers (WAL).
    """

    WRITE_LOCK_TIMEOUT = 30.0

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._writes = async_sessionmaker(
            engine.execution_options(laborsign_write=True), expire_on_commit=False
        )
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        # run_write's synchronous SQLite connection and its one thread, made on first use
        self._twin = sqlite_sync_twin(engine) if engine.dialect.name == "sqlite" else None
        self._twin_thread: ThreadPoolExecutor | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        # asyncio.timeout, not wait_for: wait_for wraps acquire() in a new task, so even
        # a free lock cost a full turn of a busy event loop (about 4 ms under load).
        try:
            async with asyncio.timeout(self.WRITE_LOCK_TIMEOUT):
                await self._write_lock.acquire()
        except TimeoutError:
            raise DatabaseBusy() from None
        try:
            yield
        finally:
            self._write_lock.release()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._writer_turn(), self._writes() as session:
            tx = Tx(session)
            async with session.begin():
                yield tx
        await tx._run_after_commit()

    async def run_write(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(connection, *args)`, plain synchronous code, as one write transaction.

        For short, hot statement batches (the WeChat webhook's inbox). aiosqlite runs each
        cursor call, fetch and commit as a separate hop to its thread and back through
        the event loop; under load every hop queues behind all ready callbacks, and a
        six-statement batch took about 12 ms of wall time (docs/benchmarks.md). On a
        SQLite file the whole transaction runs instead on a synchronous connection in
        one dedicated thread: one hop. Elsewhere (PostgreSQL: asyncpg, no thread hops;
        in-memory SQLite) it runs through the async connection's `run_sync`.
        """
        if self._twin is None:
            async with self.transaction() as tx:
                conn = await tx.session.connection()
                return await conn.run_sync(fn, *args)
        if self._twin_thread is None:
            self._twin_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        twin = self._twin

        def in_thread() -> T:
            with twin.connect().execution_options(laborsign_write=True) as conn, conn.begin():
                return fn(conn, *args)

        async with self._writer_turn():
            return await asyncio.get_running_loop().run_in_executor(self._twin_thread, in_thread)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._twin_thread is not None:
            self._twin_thread.shutdown(wait=True)
            self._twin_thread = None
        if self._twin is not None:
            self._twin.dispose()


class DatabaseBusy(Exception):
    """No write slot within the timeout (a writer held the database far too long)."""
