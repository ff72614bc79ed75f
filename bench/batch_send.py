"""Benchmark: a 1,000-row Excel batch validated, created and notified, side by side with
sending the same 1,000 contracts one by one through the API.

    .venv/bin/python bench/batch_send.py [--rows 1000] [--database-url URL] [--skip-api]

Builds a fresh migrated SQLite database (unless a URL is given), a certified enterprise and
the 人社部 model template (published), and the template's own batch sheet filled with
`rows` people. Then, in one process with its CPU pool, as a server process runs them:

- batch: the sheet is checked into a draft (core.templates.batch.draft_from_xlsx, parsing
  in the pool), confirmed, and the process's own job runners (core.outbox.OutboxWorker,
  every queue at its configured concurrency: bulk 2, notify 4) turn each row into a
  contract and deliver each employee's SMS (the console SMS adapter). Times: validated
  (draft written), created (every row has its contract), notified (every SMS sent).
- api: the same rows sent one by one with POST /api/v1/.../templates/{id}/send from an
  HTTP client against the same app (4 requests in flight), then the SMS delivered.

Reports wall times, contracts per second and peak RSS of the process and of its CPU pool
workers (ru_maxrss). Targets (issue 16): < 60 s, < 300 MB per process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from core import cpu  # noqa: E402
from core.config import load_config  # noqa: E402
from core.outbox import OutboxWorker  # noqa: E402
from core.templates import batch, service  # noqa: E402
from handlers.app import build_deps, deliverers, init_app  # noqa: E402
from storage import migrate  # noqa: E402
from storage.models import Contract, OutboxMessage  # noqa: E402
from tests.batch_support import ENT_VALUES, model_row, sheet_with  # noqa: E402
from tests.enterprise_factories import META, certified_enterprise, id_number  # noqa: E402
from tests.factories import get_user, login_as  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


def people(rows: int, prefix: str) -> list[tuple[str, str, str]]:
    return [(SURNAMES[i % 10] + GIVEN[i // 10 % len(GIVEN)] + GIVEN[i % 7],
             f"{prefix}{i:08d}", id_number(f"{100 + i % 800:03d}")) for i in range(rows)]


async def _count(deps, query) -> int:  # type: ignore[no-untyped-def]
    async with deps.db.sessions() as s:
        return int((await s.execute(query)).scalar_one())


async def _sms_sent(deps) -> int:  # type: ignore[no-untyped-def]
    return await _count(deps, select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "sms.send", OutboxMessage.status == "sent"))


async def _until(check, what: str, limit: float = 1800.0) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > limit:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)
    return time.perf_counter()


async def run_batch(deps, admin: str, ent: str, tid: str, rows: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    header = [c.title for c in batch.columns(service.version_view(
        await _latest(deps, ent, tid)))]
    data = sheet_with(header, [model_row(n, p, ident=i) for n, p, i in people(rows, "136")])
    sent_before = await _sms_sent(deps)
    worker = OutboxWorker(deps, deliverers())
    deps.outbox_wakeup = worker.wakeups
    jobs = asyncio.create_task(worker.run_forever())
    try:
        t0 = time.perf_counter()
        bid = await batch.draft_from_xlsx(deps, admin, ent, tid, data, META)
        t_valid = time.perf_counter()
        await batch.confirm(deps, admin, ent, bid, META)

        async def created() -> bool:
            p = await batch.progress(deps, admin, ent, bid)
            if p.failed:
                raise SystemExit(f"{p.failed} rows failed: {p.failures[:3]}")
            return p.created == rows

        t_created = await _until(created, "contracts")

        async def notified() -> bool:
            return await _sms_sent(deps) - sent_before >= rows

        t_notified = await _until(notified, "notifications")
    finally:
        worker.stop()
        await asyncio.wait_for(jobs, timeout=30)
        deps.outbox_wakeup = None
    return {"validated_s": t_valid - t0, "created_s": t_created - t0,
            "notified_s": t_notified - t0, "file_kb": len(data) / 1024}


async def _latest(deps, ent: str, tid: str):  # type: ignore[no-untyped-def]
    async with deps.db.transaction() as tx:
        return await service.latest_version(tx, ent, tid)


async def run_api(deps, config, admin: str, ent: str, tid: str, rows: int,  # type: ignore[no-untyped-def]
                  in_flight: int = 4) -> dict[str, float]:
    app = init_app(config, deps=deps, run_workers=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    user = await get_user(deps, admin)
    assert user is not None
    headers = (await login_as(deps, user)).headers
    todo = people(rows, "135")
    sent_before = await _sms_sent(deps)
    url = f"/api/v1/enterprises/{ent}/templates/{tid}/send"
    failures: list[str] = []

    async def one(name: str, phone: str, ident: str) -> None:
        r = await client.post(url, headers=headers, json={
            "signers": [{"role": "emp", "name": name, "phone": phone}],
            "values": {"ent_name": ENT_VALUES[0], "ent_code": ENT_VALUES[1],
                       "ent_rep": ENT_VALUES[2], "ent_address": ENT_VALUES[3],
                       "emp_name": name, "emp_phone": phone, "emp_id": ident}})
        if r.status != 201:
            failures.append(await r.text())

    sem = asyncio.Semaphore(in_flight)

    async def guarded(item: tuple[str, str, str]) -> None:
        async with sem:
            await one(*item)

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(guarded(item) for item in todo))
        t_created = time.perf_counter()
        if failures:
            raise SystemExit(f"{len(failures)} API sends failed: {failures[:2]}")
        worker = OutboxWorker(deps, deliverers())
        jobs = asyncio.create_task(worker.run_forever())

        async def notified() -> bool:
            return await _sms_sent(deps) - sent_before >= rows

        t_notified = await _until(notified, "notifications")
        worker.stop()
        await asyncio.wait_for(jobs, timeout=30)
    finally:
        await client.close()
    return {"created_s": t_created - t0, "notified_s": t_notified - t0}


async def run(args: argparse.Namespace, url: str, tmp: str) -> dict[str, dict[str, float]]:
    config = load_config(env={}).replace(
        server={"secret_key": "bench-secret", "var_dir": f"{tmp}/var"},
        database={"url": url}, storage={"file_dir": f"{tmp}/files"},
        signing={"ca_dir": f"{tmp}/ca"},
    )
    deps = build_deps(config)
    out: dict[str, dict[str, float]] = {}
    try:
        ent, admin = await certified_enterprise(deps)
        tid = await service.import_model(deps, admin, ent, meta=META)
        await service.publish(deps, admin, ent, tid, meta=META)
        await cpu.run_cpu(int, "0")  # a running server's pool is already started
        if not args.skip_batch:
            out["batch"] = await run_batch(deps, admin, ent, tid, args.rows)
            out["batch"]["max_rss_mb"] = (
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if not args.skip_api:
            out["api"] = await run_api(deps, config, admin, ent, tid, args.rows)
        out["process"] = {
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "contracts": float(await _count(deps, select(func.count()).select_from(Contract))),
        }
        cpu.pool().shutdown(wait=True)
        out["process"]["pool_worker_max_rss_mb"] = (
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        return out
    finally:
        await deps.db.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--database-url")
    p.add_argument("--skip-api", action="store_true")
    p.add_argument("--skip-batch", action="store_true")
    args = p.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        result = asyncio.run(run(args, url, tmp))
    print(f"rows: {args.rows}; load average before {load_before}, after {os.getloadavg()}")
    for part, values in result.items():
        for key, value in values.items():
            print(f"{part:>8} {key:>24}: {value:.2f}")


if __name__ == "__main__":
    main()
