"""Unit of work: one transaction, plus hooks that run only after it commits."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, CursorResult, Engine, Executable
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.db import sqlite_sync_twin

T = TypeVar("T")

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None] | None]
# A write job for Database.run_writes: the work, run in its own transaction, and what to
# do with its outcome (result, or the exception that rolled it back) on the event loop.
WriteJob = tuple[Callable[[Connection], Any], Callable[[Any, BaseException | None], None]]


# Set by the job runner for work that can wait (signing jobs, webhooks, bulk work): on
# SQLite, whose file has one writer at a time, such a task's write transactions let
# every waiting request and urgent job (a code SMS) go first.
BACKGROUND_WRITES: ContextVar[bool] = ContextVar("background_writes", default=False)


class WriteTurn:
    """The process's turn to write to a SQLite file: a FIFO lock, except that background
    writers (BACKGROUND_WRITES) step aside while anyone else is waiting."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._urgent_waiting = 0
        self._no_urgent = asyncio.Event()
        self._no_urgent.set()

    async def acquire(self) -> None:
        if not BACKGROUND_WRITES.get():
            self._urgent_waiting += 1
            self._no_urgent.clear()
            try:
                await self._lock.acquire()
            finally:
                self._urgent_waiting -= 1
                if not self._urgent_waiting:
                    self._no_urgent.set()
            return
        while True:
            await self._no_urgent.wait()
            await self._lock.acquire()
            if not self._urgent_waiting:
                return
            self._lock.release()  # someone urgent queued meanwhile: after them

    def release(self) -> None:
        self._lock.release()


class Tx:
    """What a service sees inside a transaction: the session and an after-commit list."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._after_commit: list[AfterCommit] = []
        self._before_commit: dict[str, Callable[[], Awaitable[None]]] = {}

    def after_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)

    def before_commit(self, name: str, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` once, as the transaction's last work before it commits (a second
        registration under the same name is ignored). Not run when it rolls back."""
        self._before_commit.setdefault(name, hook)

    async def _run_before_commit(self) -> None:
        while self._before_commit:  # a hook may register another
            name = next(iter(self._before_commit))
            await self._before_commit.pop(name)()

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql": for the few statements the two write differently."""
        bind = self.session.bind
        if bind is None:  # every session of Database is bound to its engine
            raise RuntimeError("unbound session")
        return bind.dialect.name

    async def changed(self, statement: Executable) -> int:
        """Run an UPDATE or DELETE; how many rows it changed."""
        result = cast("CursorResult[Any]", await self.session.execute(statement))
        return result.rowcount or 0

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
    # run_writes works this long at most (on the event loop, holding the write turn)
    # before letting requests and other writers in.
    WRITE_SLICE = 0.01

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._writes = async_sessionmaker(
            engine.execution_options(laborsign_write=True), expire_on_commit=False
        )
        self._write_lock = WriteTurn() if engine.dialect.name == "sqlite" else None
        # run_writes' synchronous SQLite connection and its one thread, made on first use
        self._twin = sqlite_sync_twin(engine) if engine.dialect.name == "sqlite" else None
        self._twin_thread: ThreadPoolExecutor | None = None
        self._probe: AsyncEngine | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def probe_engine(self) -> AsyncEngine:
        """A connection of its own for health checks (PostgreSQL). From the shared pool,
        a probe waited behind every business transaction holding a connection while it
        waits for a row lock (up to a second at 40 signatures in flight): a busy server
        looked sick, and a load balancer would take it out. SQLite connections never
        wait for each other to read: the shared pool serves."""
        if self.dialect == "sqlite":
            return self.engine
        if self._probe is None:
            self._probe = create_async_engine(self.engine.url, pool_size=1, max_overflow=1,
                                              pool_pre_ping=True)
        return self._probe

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
                await tx._run_before_commit()
        await tx._run_after_commit()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Tx]:
        """A read with the services' Tx interface: no write turn, so it never waits for
        or holds up writers (on SQLite it sees one snapshot of the WAL throughout)."""
        async with self.sessions() as session:
            yield Tx(session)

    async def run_write(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(connection, *args)`, plain synchronous code, as one write transaction
        (`run_writes` with a single job)."""
        outcome: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def settle(result: T, exc: BaseException | None) -> None:
            if exc is not None:
                outcome.set_exception(exc)
            else:
                outcome.set_result(result)

        jobs: list[WriteJob] = [(lambda conn: fn(conn, *args), settle)]
        await self.run_writes(lambda: jobs.pop() if jobs else None)
        return await outcome

    async def run_writes(self, next_job: Callable[[], WriteJob | None]) -> None:
        """Run write jobs one after another, each in its own transaction, until
        `next_job()` has none left. Each outcome goes to the job's callback as soon as its
        transaction has committed (or rolled back).

        For short, hot transactions as plain synchronous code (the WeChat webhook's
        inbox). aiosqlite runs each cursor call, fetch and commit as a separate hop to its
        thread and back through the event loop; under load every hop queues behind all
        ready callbacks. Elsewhere (PostgreSQL: asyncpg, no thread hops; in-memory SQLite)
        the jobs go through the async connection's `run_sync`.

        On a SQLite file a job runs right here, on the event loop, on a synchronous
        connection that never waits for the write lock (busy timeout 0). Holding this
        process's write turn, the lock can only be taken by another process (a CLI
        command, a migration); then the job is rolled back and run again in a thread
        that waits for the lock, so `work` must do nothing but database work. The event
        loop does only the transaction's own work, under 1 ms for a batch of two dozen
        webhook messages, and never waits for a lock.

        Not always in a thread: each sqlite3 call lets go of the GIL, and under load the
        thread then waited for the event loop to hand it back, dozens of times per
        transaction. A 1 ms batch took 4.4 ms (10 ms at p90), and each webhook message
        waits for two of them (docs/benchmarks.md, "WeChat webhook").
        """
        if self._twin is None:
            while (job := next_job()) is not None:
                work, done = job
                try:
                    async with self.transaction() as tx:
                        conn = await tx.session.connection()
                        result = await conn.run_sync(work)
                except Exception as exc:
                    done(None, exc)
                else:
                    done(result, None)
            return
        loop = asyncio.get_running_loop()
        while True:
            async with self._writer_turn():
                until = time.monotonic() + self.WRITE_SLICE
                while (job := next_job()) is not None:
                    work, done = job
                    try:
                        outcome = _write_now(self._twin, work)
                    except _WriteLockTaken:
                        if self._twin_thread is None:
                            self._twin_thread = ThreadPoolExecutor(
                                1, thread_name_prefix="sqlite-write")
                        outcome = await loop.run_in_executor(
                            self._twin_thread, _write_waiting, self._twin, work,
                            self.WRITE_LOCK_TIMEOUT)
                    done(*outcome)
                    if time.monotonic() >= until:
                        break
                else:
                    return
            await asyncio.sleep(0)  # the slice ran out: let the loop serve requests

    async def run_checkpoints(self, every: float = 1.0) -> None:
        """Copy the SQLite write-ahead log back into the database every `every` seconds,
        from a thread of its own, until cancelled (the app's background work).

        PASSIVE: it never waits for readers or writers, and writers go on appending to
        the log meanwhile, so the fsync it ends with is off every request's path. Only
        the run_writes connection has automatic checkpoints off; the others keep
        SQLite's default, so the log stays bounded even without this loop.
        """
        if self._twin is None or self._twin.url.database is None:
            return
        path, loop = self._twin.url.database, asyncio.get_running_loop()
        thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        conn: sqlite3.Connection | None = None
        try:
            conn = opened = await loop.run_in_executor(
                thread, lambda: sqlite3.connect(path, timeout=1, check_same_thread=False))
            while True:
                await asyncio.sleep(every)
                try:
                    await loop.run_in_executor(
                        thread, opened.execute, "PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed", exc_info=True)
        except sqlite3.Error:  # no connection: SQLite's own checkpoints still bound the log
            log.warning("WAL checkpoints not running", exc_info=True)
        finally:
            # Queued behind a checkpoint still running; nothing here waits on the loop.
            if conn is not None:
                thread.submit(conn.close)
            thread.shutdown(wait=False)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._probe is not None:
            await self._probe.dispose()
        if self._twin_thread is not None:
            self._twin_thread.shutdown(wait=True)
            self._twin_thread = None
        if self._twin is not None:
            self._twin.dispose()


class DatabaseBusy(Exception):
    """No write slot within the timeout (a writer held the database far too long)."""


class _WriteLockTaken(Exception):
    """Another process holds the SQLite write lock (the job was rolled back)."""


_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def _is_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _BUSY_CODES


def _write_now(twin: Engine, work: Callable[[Connection], Any]) -> tuple[Any, BaseException | None]:
    """`work` in a transaction, without waiting for the write lock (the connection's busy
    timeout is 0, storage.db.sqlite_sync_twin). Raises _WriteLockTaken when it is held."""
    try:
        with twin.connect().execution_options(laborsign_write=True) as conn, conn.begin():
            return work(conn), None
    except Exception as exc:
        if _is_busy(exc):
            raise _WriteLockTaken() from exc
        return None, exc


def _write_waiting(twin: Engine, work: Callable[[Connection], Any],
                   timeout: float) -> tuple[Any, BaseException | None]:
    """`work` in a transaction, waiting up to `timeout` seconds for the write lock (in a
    thread: never on the event loop)."""
    with twin.connect().execution_options(laborsign_write=True) as conn:
        # On the DB-API connection: through SQLAlchemy, a statement would begin a
        # transaction (and take the lock) first.
        raw = cast(sqlite3.Connection, conn.connection.driver_connection)
        raw.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        try:
            with conn.begin():
                return work(conn), None
        except Exception as exc:
            return None, exc
        finally:
            raw.execute("PRAGMA busy_timeout=0")
