"""Benchmark: import 10,000 employees from Excel (time and peak memory).

    .venv/bin/python bench/employee_import.py [--rows 10000] [--database-url URL]

Builds a fresh migrated SQLite database (unless a URL is given), a certified enterprise
and an .xlsx with the given number of rows (name, phone, ID number, department,
position, start date), then runs the real import service end to end: container checks,
openpyxl read-only parsing and validation in a worker thread, ID encryption, one
transaction of bulk inserts. Reports wall time and the process's peak RSS (ru_maxrss,
which includes the interpreter and libraries); with --trace, the Python heap peak
instead (tracemalloc slows allocation-heavy code ~3x, so no time then).
Targets (issue 4): < 20 s and < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openpyxl import Workbook  # noqa: E402

from core import cpu  # noqa: E402
from core.config import load_config  # noqa: E402
from core.enterprise import departments as DP  # noqa: E402
from core.enterprise import employee_import as I  # noqa: E402
from handlers.app import build_deps  # noqa: E402
from storage import migrate  # noqa: E402
from tests.enterprise_factories import META, certified_enterprise, id_number  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


def build_xlsx(rows: int) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("员工信息")
    ws.append(["姓名*", "手机号*", "身份证号", "部门", "岗位", "入职日期"])
    for i in range(rows):
        birth = f"19{70 + i % 30:02d}{1 + i % 12:02d}{1 + i % 28:02d}"
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[i // 10 % len(GIVEN)] + GIVEN[i % 7]
        ws.append([name, f"137{i:08d}",
                   id_number(f"{100 + i % 800:03d}", birth), "研发部" if i % 2 else "销售部",
                   "工程师", "2026-12-01"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def run(rows: int, url: str, tmp: str, trace: bool) -> dict[str, float]:
    config = load_config(env={}).replace(
        server={"secret_key": "bench-secret", "var_dir": f"{tmp}/var"},
        database={"url": url}, storage={"file_dir": f"{tmp}/files"},
        signing={"ca_dir": f"{tmp}/ca"},
    )
    deps = build_deps(config)
    try:
        ent, admin = await certified_enterprise(deps)
        for name in ("研发部", "销售部"):
            await DP.add_department(deps, admin, ent, name, None, META)
        data = build_xlsx(rows)
        await cpu.run_cpu(int, "0")  # a running server's pool is already started
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        report = await I.import_employees(deps, admin, ent, data, META)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        tracemalloc.stop()
        if not report.ok:
            raise SystemExit(f"import failed: {report.errors[:3]}")
        result = {"rows": report.imported, "file_mb": len(data) / 2**20}
        if trace:
            result["python_peak_mb"] = peak / 2**20
        else:
            result["seconds"] = elapsed
            result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            # Parsing runs in the process pool: join its workers so their peak is reported.
            cpu.pool().shutdown(wait=True)
            result["pool_worker_max_rss_mb"] = (
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        return result
    finally:
        await deps.db.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--database-url")
    p.add_argument("--trace", action="store_true",
                   help="measure the Python heap peak with tracemalloc (slows the run ~3x, "
                        "so time is not reported)")
    p.add_argument("--in-thread", action="store_true",
                   help="baseline: parse in a worker thread (asyncio.to_thread) as before, "
                        "not in the process pool")
    args = p.parse_args()
    if args.in_thread:
        async def in_thread(fn, *a):  # type: ignore[no-untyped-def]
            return await asyncio.to_thread(fn, *a)

        I.run_cpu = in_thread  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        migrate.upgrade(url)  # before the event loop: Alembic runs its own
        result = asyncio.run(run(args.rows, url, tmp, args.trace))
    for key, value in result.items():
        print(f"{key:>15}: {value:.2f}" if isinstance(value, float) else f"{key:>15}: {value}")


if __name__ == "__main__":
    main()
