"""Unit of work: one transaction, plus hooks that run only after it commits."""

from __future__ import annotations

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
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self.sessions() as session:
            tx = Tx(session)
            async with session.begin():
                yield tx
            await tx._run_after_commit()

    async def dispose(self) -> None:
        await self.engine.dispose()
