"""Database.run_writes on a SQLite file: jobs run on the event loop while the write lock
is free; when another process holds it, the job runs in a thread that waits, and the
event loop goes on serving others meanwhile."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time

import pytest

from core.context import Deps

pytestmark = pytest.mark.skipif(bool(os.environ.get("LABORSIGN_TEST_DATABASE_URL")),
                                reason="SQLite's write lock")


def _insert(conn, value: str) -> int:
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS lock_probe (v TEXT)")
    conn.exec_driver_sql("INSERT INTO lock_probe (v) VALUES (?)", (value,))
    return threading.get_ident()


def _values(path: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        try:
            return [r[0] for r in conn.execute("SELECT v FROM lock_probe ORDER BY rowid")]
        except sqlite3.OperationalError:  # no table yet
            return []


async def _longest_pause(stop: asyncio.Event) -> float:
    """The longest time the event loop took to come back to a 5 ms sleep."""
    longest = 0.0
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(0.005)
        longest = max(longest, time.monotonic() - started)
    return longest


async def test_a_free_write_lock_means_the_job_runs_on_the_event_loop(deps: Deps) -> None:
    ran_in = await deps.db.run_write(_insert, "inline")
    assert ran_in == threading.get_ident()
    assert _values(deps.db.engine.url.database) == ["inline"]
    assert await deps.db.run_write(
        lambda conn: conn.exec_driver_sql("PRAGMA busy_timeout").scalar()) == 0


async def test_a_lock_held_elsewhere_is_waited_for_in_a_thread(deps: Deps) -> None:
    path = deps.db.engine.url.database
    await deps.db.run_write(_insert, "before")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, as far as SQLite knows
    other.execute("INSERT INTO lock_probe (v) VALUES ('other')")
    stop = asyncio.Event()
    pauses = asyncio.create_task(_longest_pause(stop))
    write = asyncio.create_task(deps.db.run_write(_insert, "mine"))
    await asyncio.sleep(0.3)
    assert not write.done()  # waiting for the lock …
    other.execute("COMMIT")
    other.close()
    ran_in = await asyncio.wait_for(write, 5)
    stop.set()
    assert await pauses < 1.0  # … without holding up the event loop (blocked: 30 s)
    assert ran_in != threading.get_ident()
    assert _values(path) == ["before", "other", "mine"]
    # The next job finds the lock free and runs on the loop, still without waiting.
    assert await deps.db.run_write(_insert, "after") == threading.get_ident()
    assert await deps.db.run_write(
        lambda conn: conn.exec_driver_sql("PRAGMA busy_timeout").scalar()) == 0


async def test_a_failing_job_rolls_back_and_raises(deps: Deps) -> None:
    await deps.db.run_write(_insert, "kept")

    def half_then_fail(conn) -> None:
        _insert(conn, "lost")
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        await deps.db.run_write(half_then_fail)
    assert _values(deps.db.engine.url.database) == ["kept"]
    await deps.db.run_write(_insert, "next")  # the connection is usable again
    assert _values(deps.db.engine.url.database) == ["kept", "next"]
