"""0011_paper_archive on a database with an enterprise: its built-in HR and admin roles
gain contracts.archive, custom roles do not, and downgrading removes the tables."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from storage import migrate
from tests.enterprise_factories import certified_enterprise


@pytest.mark.skipif(bool(os.environ.get("LABORSIGN_TEST_DATABASE_URL")),
                    reason="the PostgreSQL test database is shared by the whole run")
async def test_builtin_roles_gain_the_archive_permission(deps, db_url) -> None:
    ent, _ = await certified_enterprise(deps)
    await deps.db.engine.dispose()
    await asyncio.to_thread(migrate.downgrade, db_url, "0010_batch")
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            tables = set((await conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type='table'"))).scalars())
            assert "paper_archives" not in tables
            # As the roles were before the permission existed.
            for builtin, perms in (await conn.execute(text(
                    "SELECT builtin, permissions FROM enterprise_roles WHERE enterprise_id = :e"),
                    {"e": ent})).all():
                kept = [p for p in json.loads(perms) if p != "contracts.archive"]
                await conn.execute(text(
                    "UPDATE enterprise_roles SET permissions = :p WHERE enterprise_id = :e "
                    "AND builtin = :b"), {"p": json.dumps(kept), "e": ent, "b": builtin})
    finally:
        await engine.dispose()
    await asyncio.to_thread(migrate.upgrade, db_url)
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            roles = {b: json.loads(p) for b, p in (await conn.execute(text(
                "SELECT builtin, permissions FROM enterprise_roles WHERE enterprise_id = :e"),
                {"e": ent})).all()}
    finally:
        await engine.dispose()
    assert "contracts.archive" in roles["hr"] and "contracts.archive" in roles["admin"]
    assert "contracts.archive" not in roles["legal"]
    assert "contracts.archive" not in roles["employee"]
