"""Benchmark: a 1,000-row Excel batch validated, created and notified, side by side with
sending the same 1,000 contracts one by one through the API, against real servers.

    .venv/bin/python bench/batch_send.py [--rows 1000] [--variants base,after]
        [--base-tree DIR] [--database-url URL] [--web 2 --job-worker] [--skip-api]
        [--profile PREFIX]

Each variant runs in a process of its own (`--child`) whose code is that variant's tree:
`after` is this tree, `base` the tree given with --base-tree (e.g. `git archive main |
tar -x -C DIR`), so the baseline is the earlier code end to end (its confirm, its jobs,
its servers). For each variant, on a fresh database (a temporary SQLite file, or a new
database on the PostgreSQL server of --database-url, dropped afterwards):

- setup: a certified enterprise, the 人社部 model template published, an admin session;
- batch: `laborsign serve` (and `laborsign worker` with --job-worker) started from the
  tree; the template's own sheet filled with `rows` people is checked into a draft
  (core.templates.batch.draft_from_xlsx, in this process: its time is "validated") and
  confirmed; the servers' job runners create the contracts and deliver each SMS. Times:
  created (every row has its contract), notified (every SMS sent);
- api: fresh servers again; the same number of other people sent one by one with
  POST /api/v1/.../templates/{id}/send, 4 requests in flight, until every SMS is sent.

Meanwhile GET /healthz is sampled back to back (p50/p99/max). Reported per part: wall
times, load average, CPU seconds of every server process and CPU-pool process (from
/proc; per contract: less sensitive to the machine's other load than wall time), and the
peak RSS (VmHWM) of the largest server process and the largest pool process. Targets
(issue 16): < 60 s, < 300 MB per process, /healthz p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("BENCH_TREE") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve()
sys.path.insert(1, str(HERE.parent.parent))  # bench.procs (the same in every tree)

SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


def people(rows: int, prefix: str) -> list[tuple[str, str, str]]:
    from tests.enterprise_factories import id_number

    return [(SURNAMES[i % 10] + GIVEN[i // 10 % len(GIVEN)] + GIVEN[i % 7],
             f"{prefix}{i:08d}", id_number(f"{100 + i % 800:03d}")) for i in range(rows)]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# ---------------------------------------------------------------- server processes


def _group(pgid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and b"resource_tracker" not in (
                    stat.parent / "cmdline").read_bytes():
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _is_pool(pid: int) -> bool:
    try:  # the CPU pool is started with "spawn"; web processes are forked
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Servers:
    """`laborsign serve --workers N` (+ `laborsign worker`), each in its own process
    group, from the variant's tree."""

    def __init__(self, env: dict[str, str], web: int, job_worker: bool) -> None:
        from bench.procs import free_port, wait_for_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        run_env = {**env, "LABORSIGN_SERVER_PORT": str(self.port),
                   "LABORSIGN_SERVER_BASE_URL": self.base}
        if job_worker:
            run_env["LABORSIGN_OUTBOX_RUN_IN_WEB"] = "false"
        cmd = [sys.executable, "-m", "handlers.cli"]
        if os.environ.get("BENCH_SERVER_PROFILE"):  # --profile: cProfile statistics
            cmd = [sys.executable, str(ROOT / "bench" / "profile_server.py")]
            run_env["BENCH_PROFILE"] = f"{os.environ['BENCH_SERVER_PROFILE']}.{self.port}"
        self.procs = [subprocess.Popen([*cmd, "serve", "--no-migrate", "--workers", str(web)],
                                       cwd=ROOT, env=run_env, start_new_session=True,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        if job_worker:
            self.procs.append(subprocess.Popen([*cmd, "worker"], cwd=ROOT, env=run_env,
                                               start_new_session=True,
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        wait_for_port(self.port, 60)

    def pids(self) -> list[int]:
        return [p for proc in self.procs for p in _group(proc.pid)]

    def cpu(self) -> dict[int, float]:
        from bench.procs import cpu_seconds

        return {p: cpu_seconds(p) for p in self.pids()}

    def peaks(self) -> tuple[float, float]:
        """(largest server process, largest pool process) peak RSS in MB."""
        pids = self.pids()
        return (max([_hwm_mb(p) for p in pids if not _is_pool(p)], default=0.0),
                max([_hwm_mb(p) for p in pids if _is_pool(p)], default=0.0))

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        time.sleep(1)
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Part:
    """One measured part: wall time from `start`, /healthz samples, CPU and memory."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers
        self.health: list[float] = []
        self._stop = False

    async def __aenter__(self) -> Part:
        import aiohttp

        self.load0 = os.getloadavg()
        self.cpu0 = self.servers.cpu()
        self.self_cpu0 = time.process_time()
        self.t0 = time.perf_counter()
        self._http = aiohttp.ClientSession()
        self._sampler = asyncio.create_task(self._sample())
        return self

    async def _sample(self) -> None:
        while not self._stop:
            started = time.perf_counter()
            try:
                async with self._http.get(f"{self.servers.base}/healthz") as r:
                    await r.read()
                self.health.append((time.perf_counter() - started) * 1000)
            except Exception:  # counted as a very slow sample
                self.health.append(10_000.0)
            await asyncio.sleep(0.01)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    async def __aexit__(self, *exc: object) -> None:
        self._stop = True
        await self._sampler
        await self._http.close()
        cpu1 = self.servers.cpu()
        pool = {p for p in cpu1 if _is_pool(p)}
        self.server_cpu = sum(v - self.cpu0.get(p, 0.0) for p, v in cpu1.items()
                              if p not in pool)
        self.pool_cpu = sum(v - self.cpu0.get(p, 0.0) for p, v in cpu1.items() if p in pool)
        self.bench_cpu = time.process_time() - self.self_cpu0
        self.peak_server, self.peak_pool = self.servers.peaks()
        self.load1 = os.getloadavg()

    def figures(self, rows: int) -> dict[str, Any]:
        return {
            "healthz_samples": len(self.health),
            "healthz_p50_ms": percentile(self.health, 50),
            "healthz_p99_ms": percentile(self.health, 99),
            "healthz_max_ms": max(self.health, default=float("nan")),
            "server_cpu_s": self.server_cpu, "pool_cpu_s": self.pool_cpu,
            "cpu_per_contract_s": (self.server_cpu + self.pool_cpu) / rows,
            "bench_process_cpu_s": self.bench_cpu,
            "peak_server_mb": self.peak_server, "peak_pool_mb": self.peak_pool,
            "load_before": list(self.load0), "load_after": list(self.load1),
        }


# ---------------------------------------------------------------- one variant (--child)


async def _count(deps, query) -> int:  # type: ignore[no-untyped-def]
    async with deps.db.sessions() as s:
        return int((await s.execute(query)).scalar_one())


async def _sms_sent(deps) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from storage.models import OutboxMessage

    return await _count(deps, select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "sms.send", OutboxMessage.status == "sent"))


async def _until(check, what: str, limit: float = 3600.0) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > limit:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(1.0)


async def run_batch(deps, env, args, admin: str, ent: str, tid: str  # type: ignore[no-untyped-def]
                    ) -> dict[str, Any]:
    from core.templates import batch, service
    from tests.batch_support import model_row, sheet_with
    from tests.enterprise_factories import META

    async with deps.db.transaction() as tx:
        version = service.version_view(await service.latest_version(tx, ent, tid))
    header = [c.title for c in batch.columns(version)]
    data = sheet_with(header, [model_row(n, p, ident=i)
                               for n, p, i in people(args.rows, "136")])
    sent_before = await _sms_sent(deps)
    servers = Servers(env, args.web, args.job_worker)
    try:
        async with Part(servers) as part:
            bid = await batch.draft_from_xlsx(deps, admin, ent, tid, data, META)
            validated = part.elapsed()
            await batch.confirm(deps, admin, ent, bid, META)

            async def created() -> bool:
                p = await batch.progress(deps, admin, ent, bid)
                if p.failed:
                    raise SystemExit(f"{p.failed} rows failed: {p.failures[:3]}")
                return p.created == args.rows

            await _until(created, "contracts")
            t_created = part.elapsed()

            async def notified() -> bool:
                return await _sms_sent(deps) - sent_before >= args.rows

            await _until(notified, "notifications")
            t_notified = part.elapsed()
    finally:
        servers.stop()
    return {"validated_s": validated, "created_s": t_created, "notified_s": t_notified,
            "file_kb": len(data) / 1024, **part.figures(args.rows)}


async def run_api(deps, env, args, admin: str, ent: str, tid: str  # type: ignore[no-untyped-def]
                  ) -> dict[str, Any]:
    import aiohttp

    from tests.batch_support import ENT_VALUES
    from tests.factories import get_user, login_as

    user = await get_user(deps, admin)
    assert user is not None
    headers = (await login_as(deps, user)).headers
    todo = people(args.rows, "135")
    sent_before = await _sms_sent(deps)
    failures: list[str] = []
    servers = Servers(env, args.web, args.job_worker)
    url = f"{servers.base}/api/v1/enterprises/{ent}/templates/{tid}/send"
    try:
        async with Part(servers) as part, aiohttp.ClientSession() as http:
            sem = asyncio.Semaphore(args.in_flight)

            async def one(name: str, phone: str, ident: str) -> None:
                async with sem, http.post(url, headers=headers, json={
                        "signers": [{"role": "emp", "name": name, "phone": phone}],
                        "values": {"ent_name": ENT_VALUES[0], "ent_code": ENT_VALUES[1],
                                   "ent_rep": ENT_VALUES[2], "ent_address": ENT_VALUES[3],
                                   "emp_name": name, "emp_phone": phone, "emp_id": ident}}
                ) as r:
                    if r.status != 201:
                        failures.append(f"{r.status} {await r.text()}")

            await asyncio.gather(*(one(*item) for item in todo))
            t_created = part.elapsed()
            if failures:
                raise SystemExit(f"{len(failures)} API sends failed: {failures[:2]}")

            async def notified() -> bool:
                return await _sms_sent(deps) - sent_before >= args.rows

            await _until(notified, "notifications")
            t_notified = part.elapsed()
    finally:
        servers.stop()
    return {"created_s": t_created, "notified_s": t_notified, **part.figures(args.rows)}


async def child(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    from core import cpu
    from core.config import load_config
    from core.templates import service
    from handlers.app import build_deps
    from tests.enterprise_factories import META, certified_enterprise

    deps = build_deps(load_config(env=env))
    out: dict[str, Any] = {}
    try:
        ent, admin = await certified_enterprise(deps)
        tid = await service.import_model(deps, admin, ent, meta=META)
        await service.publish(deps, admin, ent, tid, meta=META)
        await cpu.run_cpu(int, "0")  # this process's pool (the sheet's parsing) started
        if not args.skip_batch:
            out["batch"] = await run_batch(deps, env, args, admin, ent, tid)
        if not args.skip_api:
            out["api"] = await run_api(deps, env, args, admin, ent, tid)
        return out
    finally:
        await deps.db.dispose()
        cpu.shutdown()


async def _pg_database(url: str, name: str, create: bool) -> str:
    """A database of its own on the server of `url` (made or dropped): its URL."""
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = await asyncpg.connect(user=u.username, password=u.password, host=u.host,
                                 port=u.port, database=u.database)
    try:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    return u.set(database=name).render_as_string(hide_password=False)


def run_child(args: argparse.Namespace) -> None:
    # Stopped from outside (SIGTERM): the servers' process groups are stopped and the
    # PostgreSQL database dropped on the way out (finally blocks), not left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ, "LABORSIGN_SERVER_VAR_DIR": tmp,
            "LABORSIGN_SERVER_DEV_MODE": "true",
            "LABORSIGN_SERVER_SECRET_KEY": "bench-secret-key-not-for-production",
            "LABORSIGN_STORAGE_FILE_DIR": f"{tmp}/files",
            "LABORSIGN_SIGNING_CA_DIR": f"{tmp}/ca",
            "LABORSIGN_SMS_PER_IP_HOURLY": "100000",
            "LABORSIGN_SMS_PER_PHONE_HOURLY": "1000",
            "LABORSIGN_SMS_PER_PHONE_DAILY": "1000",
        }
        pg_name = ""
        if args.database_url:
            pg_name = f"laborsign_bench_{os.getpid()}"
            env["LABORSIGN_DATABASE_URL"] = asyncio.run(
                _pg_database(args.database_url, pg_name, True))
        else:
            env["LABORSIGN_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp}/bench.db"
        os.environ.update(env)  # this process's own deps read the same settings
        try:
            subprocess.run([sys.executable, "-m", "handlers.cli", "migrate"], cwd=ROOT,
                           env=env, check=True, stdout=subprocess.DEVNULL)
            result = asyncio.run(child(args, env))
        finally:
            if pg_name:
                asyncio.run(_pg_database(args.database_url, pg_name, False))
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------- the driver


def _line(name: str, part: str, r: dict[str, Any], rows: int) -> str:
    created, notified = r["created_s"], r["notified_s"]
    return (f"| {name} | {part} | {r.get('validated_s', float('nan')):.1f} | {created:.1f} | "
            f"{notified:.1f} | {notified / rows:.3f} | {r['cpu_per_contract_s']:.3f} | "
            f"{r['server_cpu_s']:.0f} + {r['pool_cpu_s']:.0f} | "
            f"{r['healthz_p50_ms']:.1f} / {r['healthz_p99_ms']:.1f} / "
            f"{r['healthz_max_ms']:.0f} ({r['healthz_samples']}) | "
            f"{r['peak_server_mb']:.0f} / {r['peak_pool_mb']:.0f} | "
            f"{r['load_before'][0]:.1f} → {r['load_after'][0]:.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--variants", default="base,after",
                   help="comma separated: base (the --base-tree code), after (this tree)")
    p.add_argument("--base-tree", type=Path, help="source tree of the variant 'base'")
    p.add_argument("--database-url", help="a PostgreSQL URL (scripts/pg.sh); default SQLite")
    p.add_argument("--web", type=int, default=1, help="web processes (serve --workers)")
    p.add_argument("--job-worker", action="store_true",
                   help="jobs in a separate `laborsign worker`, not in the web processes")
    p.add_argument("--in-flight", type=int, default=4, help="API requests in flight")
    p.add_argument("--skip-api", action="store_true")
    p.add_argument("--skip-batch", action="store_true")
    p.add_argument("--profile", help="run the servers under cProfile (bench/profile_server.py"
                   "), statistics to files with this path prefix")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        run_child(args)
        return
    results: dict[str, dict[str, Any]] = {}
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        tree = HERE.parent.parent
        if variant == "base":
            if args.base_tree is None:
                p.error("the variant 'base' needs --base-tree")
            tree = args.base_tree.resolve()
        elif variant != "after":
            p.error(f"unknown variant {variant}")
        cmd = [sys.executable, str(HERE), "--child", "--rows", str(args.rows),
               "--web", str(args.web), "--in-flight", str(args.in_flight)]
        cmd += ["--job-worker"] * args.job_worker + ["--skip-api"] * args.skip_api
        cmd += ["--skip-batch"] * args.skip_batch
        if args.database_url:
            cmd += ["--database-url", args.database_url]
        # The variant's own code first on the path (its servers and pool processes too).
        env = {**os.environ, "BENCH_TREE": str(tree), "PYTHONPATH": str(tree)}
        if args.profile:
            env["BENCH_SERVER_PROFILE"] = str(Path(args.profile).resolve()) + f".{variant}"
        print(f"{variant}: {tree}", flush=True)
        out = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
        found = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if out.returncode or not found:
            print(out.stdout[-3000:], out.stderr[-3000:], sep="\n")
            raise SystemExit(f"variant {variant} failed")
        results[variant] = json.loads(found[-1][len("RESULT "):])
        print(json.dumps(results[variant], indent=1), flush=True)
    db = "PostgreSQL" if args.database_url else "SQLite"
    topology = f"{args.web} web" + (" + 1 worker" if args.job_worker else ", jobs in web")
    print(f"\n{args.rows} rows, {db}, {topology}\n")
    print("| variant | path | validated s | created s | notified s | s per contract | "
          "CPU s per contract | CPU s server + pool | /healthz p50 / p99 / max ms "
          "(samples) | peak MB server / pool | load 1 min |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for variant, parts in results.items():
        for part, r in parts.items():
            print(_line(variant, part, r, args.rows))


if __name__ == "__main__":
    main()
