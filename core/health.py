"""Health: the database answers and its schema is at the newest migration.

Load balancers and monitors call this every few seconds, and it must stay fast while the
server is busy, so a call costs one connection and one tiny query: the database's Alembic
revision, which also proves that the database answers. The connection is its own
(`Database.probe_engine`), not one a busy pool would make it wait for. Nothing about the
database is cached, so an outage or a schema change shows on the very next call.

The head revision of the migration scripts is read once per process: Alembic finds it by
compiling every migration file (≈ 10 ms of CPU, far more under load, and it used to run on
the event loop on every call), and the scripts a running process was started with cannot
change under it — a deploy restarts it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import text

from core.context import Deps
from storage.migrate import head_revision


@dataclass(frozen=True)
class Health:
    ok: bool
    database: bool
    migrations_current: bool
    revision: str | None
    head: str | None


_head: tuple[str | None] | None = None


async def _head_revision() -> str | None:
    global _head
    if _head is None:
        _head = (await asyncio.to_thread(head_revision),)
    return _head[0]


async def _answers(deps: Deps) -> bool:
    try:
        async with deps.db.probe_engine().connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


async def check_health(deps: Deps) -> Health:
    head = await _head_revision()
    try:
        async with deps.db.probe_engine().connect() as conn:
            revision = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
        database = True
    except Exception:
        # Rare: either the database is down or it was never migrated (no table yet).
        database, revision = await _answers(deps), None
    current = database and revision == head
    return Health(current, database, current, revision, head)
