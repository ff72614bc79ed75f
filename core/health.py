"""Health: the database answers and its schema is at the newest migration."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from core.context import Deps
from storage.migrate import current_revision, head_revision


@dataclass(frozen=True)
class Health:
    ok: bool
    database: bool
    migrations_current: bool
    revision: str | None
    head: str | None


async def check_health(deps: Deps) -> Health:
    try:
        async with deps.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        database = True
        revision = await current_revision(deps.db.engine)
    except Exception:
        database, revision = False, None
    head = head_revision()
    current = database and revision == head
    return Health(database and current, database, current, revision, head)
