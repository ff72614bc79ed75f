"""The SQLite engine's inline connections (storage/sqlite_inline.py): statements run on
the event loop without a thread hop, and a call that finds the file locked by another
process waits for it in a thread instead of failing or blocking the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import create_engine
from storage.sqlite_inline import InlineConnection
from storage.uow import Database


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "inline.db")


@pytest.mark.parametrize("inline", [True, False])
async def test_statements_run_without_a_thread(db_path: str, inline: bool) -> None:
    db = Database(create_engine(f"sqlite+aiosqlite:///{db_path}", sqlite_inline=inline))
    try:
        async with db.transaction() as tx:
            await tx.session.execute(text("CREATE TABLE t (n INTEGER)"))
            await tx.session.execute(text("INSERT INTO t VALUES (1), (2)"))
        threads = threading.active_count()
        loop_turns = 0

        async def count_turns() -> None:
            nonlocal loop_turns
            while True:
                loop_turns += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count_turns())
        await asyncio.sleep(0)
        async with db.sessions() as session:
            await session.execute(text("SELECT 1"))  # the connection is open
            before = loop_turns
            for _ in range(20):
                total = (await session.execute(text("SELECT sum(n) FROM t"))).scalar()
            # Twenty queries without the loop running anything else in between: no hops
            # (through aiosqlite, each is at least two).
            if not inline:  # the check can fail: through aiosqlite, every call is a hop
                counter.cancel()
                assert loop_turns - before >= 40
                return
            assert loop_turns == before
        counter.cancel()
        assert total == 3
        assert threading.active_count() == threads  # no aiosqlite thread per connection
        async with db.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert isinstance(raw, InlineConnection)
            # The loop never sleeps in SQLite's busy handler.
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 0
    finally:
        await db.dispose()


async def test_a_lock_held_by_another_process_is_waited_for_off_the_loop(db_path: str) -> None:
    db = Database(create_engine(f"sqlite+aiosqlite:///{db_path}", sqlite_inline=True))
    try:
        async with db.transaction() as tx:
            await tx.session.execute(text("CREATE TABLE t (n INTEGER)"))
        other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # as another process would: the write lock
        other.execute("INSERT INTO t VALUES (7)")

        async def write() -> None:
            async with db.transaction() as tx:
                await tx.session.execute(text("INSERT INTO t VALUES (1)"))

        writer = asyncio.create_task(write())
        ticks = 0
        started = time.monotonic()
        while time.monotonic() - started < 0.3:  # the loop keeps running meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks >= 15
        assert not writer.done()
        other.execute("COMMIT")
        other.close()
        await asyncio.wait_for(writer, 10)
        async with db.sessions() as session:
            assert (await session.execute(text("SELECT sum(n) FROM t"))).scalar() == 8
    finally:
        await db.dispose()


async def test_inline_is_off_by_default(db_path: str) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert not isinstance(raw, InlineConnection)
    finally:
        await engine.dispose()
