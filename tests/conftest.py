"""Shared fixtures: a migrated database per test (SQLite or PostgreSQL), deps, app, client.

The database comes from LABORSIGN_TEST_DATABASE_URL (PostgreSQL) or, when that is empty,
a fresh SQLite file per test copied from one migrated template.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.clock import FrozenClock
from core.config import Config, load_config
from core.context import Deps
from core.outbox import OutboxWorker
from handlers.app import build_deps, deliverers, init_app
from storage import migrate
from storage.models import Base
from tests.s3_support import S3Server

PG_URL = os.environ.get("LABORSIGN_TEST_DATABASE_URL", "")


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {'PostgreSQL' if PG_URL else 'SQLite'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, run only the tests whose outcome can depend on the database: those
    that open one (they ask for `db_url`, or are marked `database` when they ask for it
    later), except the browser tours. The others (the PDF engine, parsers, third-party
    validators on files) already ran in the SQLite pass of the same run; a browser adds
    nothing database-specific to the server's routes, which the handler tests run on
    PostgreSQL through the test client. Marked `database`, a browser test still runs here
    (the newcomer's tour on the README's command)."""
    if not PG_URL:
        return
    keep, drop = [], []
    for item in items:
        names = getattr(item, "fixturenames", ())
        marked = item.get_closest_marker("database") is not None
        uses_db = marked or ("db_url" in names and "browser" not in names)
        (keep if uses_db else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per run: a template SQLite file, or a PostgreSQL database of this run's own.

    Each run gets its own PostgreSQL database (created from the given URL's server and
    dropped afterwards), so several runs on one machine never disturb each other.
    """
    if PG_URL:
        base = make_url(PG_URL)
        name = f"{base.database}_{os.getpid()}"
        admin_url = base.set(database="postgres")

        async def admin(sql: str) -> None:
            engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
            async with engine.connect() as conn:
                await conn.execute(text(sql))
            await engine.dispose()

        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}"'))
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        # A test database need not wait for each commit to reach the disk (a crash loses
        # nothing the run needs); the product's own databases keep the server's setting.
        asyncio.run(admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        url = base.set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url)
        yield url
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    yield str(path)


async def _truncate_pg(url: str) -> None:
    engine = create_async_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture
async def db_url(_migrated_template: str, tmp_path: Path) -> str:
    if PG_URL:
        await _truncate_pg(_migrated_template)
        return _migrated_template
    target = tmp_path / "test.db"
    shutil.copy(_migrated_template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3-compatible server (moto's) on a free loopback port, for the whole run."""
    server = S3Server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh private bucket per test, so tests never see each other's objects."""
    return s3_server.new_bucket()


@pytest.fixture
def storage_backend() -> str:
    """local by default; `@pytest.mark.parametrize("storage_backend", ["local", "s3"])`
    runs a test against both."""
    return "local"


@pytest.fixture
def config(db_url: str, tmp_path: Path, storage_backend: str,
           request: pytest.FixtureRequest) -> Config:
    base = load_config(env={})
    storage: dict[str, object] = {"file_dir": str(tmp_path / "var" / "files")}
    if storage_backend == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        storage |= server.storage_config(request.getfixturevalue("s3_bucket"))
    return base.replace(
        server={
            "secret_key": "test-secret-key-not-for-production",
            "var_dir": str(tmp_path / "var"),
            "dev_mode": True,
        },
        database={"url": db_url},
        storage=storage,
        signing={"ca_dir": str(tmp_path / "var" / "ca")},
    )


@pytest.fixture
async def deps(config: Config, clock: FrozenClock) -> AsyncIterator[Deps]:
    d = build_deps(config, clock=clock)
    yield d
    await d.db.dispose()


@pytest.fixture
def outbox(deps: Deps) -> OutboxWorker:
    worker = OutboxWorker(deps, deliverers())
    return worker


@pytest.fixture
async def client(aiohttp_client, deps: Deps, config: Config):
    app = init_app(config, deps=deps, run_workers=False)
    return await aiohttp_client(app)


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """Where a test leaves artefacts for people to look at (screenshots, PDFs)."""
    # scripts/test.sh gives each of its passes its own folder, as two of them run at once
    root = Path(os.environ.get("LABORSIGN_TEST_OUTPUT")
                or Path(__file__).resolve().parent.parent / "test-output")
    path = root / request.node.name.replace("/", "_").replace("[", "_").replace("]", "")
    path.mkdir(parents=True, exist_ok=True)
    yield path
