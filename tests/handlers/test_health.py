from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core import health
from core.context import Deps
from storage.migrate import head_revision
from storage.uow import Database


async def test_healthz_reports_database_and_current_migrations(client) -> None:
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 200
    assert body["ok"] is True and body["revision"] == body["head"]
    # Not two Nones agreeing: the head is the code's newest migration, and it answered.
    assert body["head"] == head_revision() is not None
    assert body["database"] is True and body["migrations_current"] is True


def _unreachable(db_url: str, tmp_path: Path) -> Database:
    """The same kind of database, but one that cannot be reached (server gone, disk gone)."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        bad = f"sqlite+aiosqlite:///{tmp_path}/no-such-dir/laborsign.db"
    else:
        bad = url.set(host="127.0.0.1", port=1).render_as_string(hide_password=False)
    return Database(create_async_engine(bad))


async def test_healthz_reports_a_database_outage_on_the_very_next_call(
    client, deps: Deps, db_url: str, tmp_path: Path
) -> None:
    assert (await client.get("/healthz")).status == 200
    working, deps.db = deps.db, _unreachable(db_url, tmp_path)
    try:
        response = await client.get("/healthz")
        body = await response.json()
    finally:
        await deps.db.dispose()
        deps.db = working
    assert (response.status, body["ok"], body["database"]) == (503, False, False)


async def test_healthz_is_healthy_again_as_soon_as_the_database_is_back(
    client, deps: Deps, db_url: str, tmp_path: Path
) -> None:
    working, deps.db = deps.db, _unreachable(db_url, tmp_path)
    try:
        assert (await client.get("/healthz")).status == 503
    finally:
        await deps.db.dispose()
        deps.db = working
    assert (await client.get("/healthz")).status == 200


async def _set_revision(deps: Deps, sql: str, **params: str) -> None:
    async with deps.db.transaction() as tx:
        await tx.session.execute(text(sql), params)


async def test_healthz_sees_a_schema_behind_the_code_at_once(client, deps: Deps) -> None:
    assert (await client.get("/healthz")).status == 200
    await _set_revision(deps, "UPDATE alembic_version SET version_num = '0000_older'")
    try:
        response = await client.get("/healthz")
        body = await response.json()
    finally:  # PostgreSQL runs share one database: put the revision back
        await _set_revision(deps, "UPDATE alembic_version SET version_num = :head",
                            head=head_revision() or "")
    assert (response.status, body["database"], body["migrations_current"], body["revision"]) \
        == (503, True, False, "0000_older")


async def test_healthz_tells_an_unmigrated_database_from_an_outage(client, deps: Deps) -> None:
    await _set_revision(deps, "ALTER TABLE alembic_version RENAME TO alembic_version_away")
    try:
        response = await client.get("/healthz")
        body = await response.json()
    finally:
        await _set_revision(deps, "ALTER TABLE alembic_version_away RENAME TO alembic_version")
    assert (response.status, body["database"], body["revision"]) == (503, True, None)


async def test_migration_scripts_are_read_once_not_on_every_call(
    client, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real = health.head_revision

    def counting() -> str | None:
        reads.append(1)
        return real()

    monkeypatch.setattr(health, "_head", None)
    monkeypatch.setattr(health, "head_revision", counting)
    for _ in range(3):
        assert (await client.get("/healthz")).status == 200
    assert len(reads) == 1


async def test_unknown_api_route_is_json_404(client) -> None:
    response = await client.get("/api/v1/nope")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_unknown_page_is_a_chinese_error_page(client) -> None:
    response = await client.get("/no-such-page")
    assert response.status == 404
    assert "您要找的内容不存在" in await response.text()


async def test_healthz_answers_while_every_pooled_connection_is_busy(
    client, deps: Deps, db_url: str
) -> None:
    import asyncio
    import time

    from sqlalchemy import select

    from storage.models import User

    if make_url(db_url).get_backend_name() == "sqlite":
        pytest.skip("SQLite readers never wait for each other's connections")
    engine = deps.db.engine
    pool = engine.sync_engine.pool
    # Hold every connection the pool may hand out, each in an open transaction, as forty
    # signatures waiting for row locks would.
    held = []
    for _ in range(pool.size() + engine.sync_engine.pool._max_overflow):  # type: ignore[attr-defined]
        conn = await engine.connect()
        await conn.execute(select(User.id).limit(1))
        held.append(conn)
    try:
        with pytest.raises(TimeoutError):  # the business pool really is exhausted
            async with asyncio.timeout(0.5):
                async with deps.db.sessions() as session:
                    await session.execute(text("SELECT 1"))
        started = time.monotonic()
        response = await client.get("/healthz")
        assert response.status == 200 and (await response.json())["ok"] is True
        assert time.monotonic() - started < 5  # not the pool's 30 s checkout timeout
    finally:
        for conn in held:
            await conn.close()
