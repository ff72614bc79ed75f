"""Engine creation for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.sqlite_inline import creator as sqlite_inline_creator


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10,
                  sqlite_inline: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        on_disk = bool(database) and database != ":memory:" and "mode=memory" not in url
        if database and on_disk:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if on_disk and sqlite_inline and database:
            # Statements on the event loop, no thread hop each (storage/sqlite_inline.py).
            # Connections beyond the pool are closed on return and opened again (a thread
            # hop and four PRAGMAs): keep enough for a busy process's reads.
            engine = create_async_engine(url, echo=echo,
                                         async_creator=sqlite_inline_creator(database),
                                         pool_size=max(pool_size, 20), max_overflow=pool_size)
            _configure_sqlite(engine.sync_engine)

            @event.listens_for(engine.sync_engine, "connect")
            def _never_wait(dbapi_connection: Any, _record: Any) -> None:
                # After _configure_sqlite's: the loop never sleeps in the busy handler;
                # a locked call is run again in a thread that waits.
                dbapi_connection.execute("PRAGMA busy_timeout=0")
                # Nor copies the WAL back (and fsyncs) on the commit that crosses 1,000
                # pages: Database.run_checkpoints does it from a thread in the server;
                # in any other process SQLite does it when the last connection closes.
                dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

            return engine
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        _configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


def sqlite_sync_twin(engine: AsyncEngine) -> Engine | None:
    """A synchronous engine on the same SQLite file (None for in-memory databases,
    which another connection would not see), configured like the async one."""
    url = engine.url
    if not url.database or url.database == ":memory:" or "mode=memory" in str(url):
        return None
    twin = create_sync_engine(
        url.set(drivername="sqlite+pysqlite"),
        echo=engine.echo,
        # The event loop uses it, and a thread when another process holds the write lock
        # (storage.uow.Database.run_writes); disposal may come from another. The timeout
        # covers only the setup when the one connection is first opened; from then on
        # its busy timeout is 0 (_hot_writer below).
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=1,
        max_overflow=0,
    )
    _configure_sqlite(twin)

    @event.listens_for(twin, "connect")
    def _hot_writer(dbapi_connection: Any, _record: Any) -> None:
        # The hot writer never copies the WAL back into the database itself: that stalled
        # every message waiting on the commit that triggered it (an fsync every ~1,000
        # pages). Database.run_checkpoints does it from another thread instead.
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
        # Writes run on the event loop, which must never sleep in SQLite's busy handler:
        # a job that finds the write lock taken is run again in a thread that waits.
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    return twin


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE.

    pysqlite's own transaction handling starts transactions lazily, so two writers can
    both read and then fail to upgrade their lock ("database is locked"). Taking the
    write lock at BEGIN serialises writers cleanly, which is what the row locks
    (SELECT ... FOR UPDATE) do on PostgreSQL.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writes (Database.transaction) take the lock up front; reads stay deferred.
        if conn.get_execution_options().get("laborsign_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
