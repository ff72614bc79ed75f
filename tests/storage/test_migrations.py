"""The migrations build exactly the schema the models describe, and go down and up."""

from __future__ import annotations

import asyncio
import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from storage import migrate
from storage.models import Base


async def _differences(url: str) -> list[object]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    finally:
        await engine.dispose()


async def test_the_migrated_schema_matches_the_models(db_url: str) -> None:
    assert await _differences(db_url) == []


@pytest.mark.skipif(bool(os.environ.get("LABORSIGN_TEST_DATABASE_URL")),
                    reason="the PostgreSQL test database is shared by the whole run")
async def test_the_latest_migration_goes_down_and_up_again(db_url: str) -> None:
    head = migrate.head_revision()
    assert head is not None and head != "0001"
    await asyncio.to_thread(migrate.downgrade, db_url, "-1")
    assert await _differences(db_url) != []  # the downgrade changed something …
    await asyncio.to_thread(migrate.upgrade, db_url)
    assert await _differences(db_url) == []  # … and the upgrade put it back
