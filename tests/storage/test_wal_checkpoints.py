"""The hot writer (Database.run_writes on a SQLite file) never checkpoints the WAL
itself; Database.run_checkpoints copies it into the database file in the background."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import text

from core.context import Deps

pytestmark = pytest.mark.skipif(bool(os.environ.get("LABORSIGN_TEST_DATABASE_URL")),
                                reason="SQLite's write-ahead log")


ROWS, ROW_BYTES = 400, 500


def _insert_rows(conn) -> None:
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS wal_probe (id INTEGER PRIMARY KEY, v TEXT)")
    conn.exec_driver_sql("INSERT INTO wal_probe (v) VALUES (?)", [("x" * ROW_BYTES,)] * ROWS)


def _size(path: str) -> int:
    return os.path.getsize(path)


async def test_the_writer_leaves_checkpoints_to_the_background_loop(deps: Deps) -> None:
    path = deps.db.engine.url.database
    autocheckpoint = await deps.db.run_write(
        lambda conn: conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())
    assert autocheckpoint == 0
    # The engine's own connections keep SQLite's default (aiosqlite's threads), unless
    # their statements run on the event loop too (database.sqlite_inline).
    inline = deps.config.database.sqlite_inline
    async with deps.db.sessions() as session:
        assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == (
            0 if inline else 1000)
    before = _size(path)
    for _ in range(5):
        await deps.db.run_write(_insert_rows)
    assert _size(path) == before  # all of it is still in the WAL
    checkpoints = asyncio.create_task(deps.db.run_checkpoints(every=0.02))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if _size(path) > before + ROWS * ROW_BYTES:
            break
    checkpoints.cancel()
    with pytest.raises(asyncio.CancelledError):
        await checkpoints
    assert _size(path) > before + ROWS * ROW_BYTES


async def test_a_process_folds_the_wal_back_when_it_is_done(config) -> None:
    """A process without the checkpoint loop (a CLI command): SQLite checkpoints when the
    last connection closes, automatic checkpoints or not."""
    from handlers.app import build_deps

    deps = build_deps(config)
    path = deps.db.engine.url.database
    assert path is not None
    for _ in range(3):
        await deps.db.run_write(_insert_rows)
    before = _size(path)
    await deps.db.dispose()
    assert _size(path) > before + ROWS * ROW_BYTES
