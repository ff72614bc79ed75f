"""Unit of work: one transaction, plus hooks that run only after it commits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        try:
            await asyncio.wait_for(self._write_lock.acquire(), self.WRITE_LOCK_TIMEOUT)
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

    async def dispose(self) -> None:
        await self.engine.dispose()


class DatabaseBusy(Exception):
    """No write slot within the timeout (a writer held the database far too long)."""
