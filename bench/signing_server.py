"""Signing under load: does the server stay responsive while it signs?

Seeds one database (SQLite in a temp dir, or the empty database in LABORSIGN_DATABASE_URL):
a certified enterprise and N verified employees, each with a handwritten signature and a
certificate, and one sent contract per employee for every server run to come (through the
core services). Then, for each variant and round, starts `laborsign serve` on a free port,
signs 4 warm-up contracts at once (pool start-up is not measured), and runs N signatures
through the real API flow — request the SMS code, read it from the dev inbox, confirm —
`--concurrency` at a time, every one timestamped by the server's own TSA over HTTP.
Meanwhile GET /healthz is sampled back to back; its p99 must stay under 50 ms.

The code is read with the dev inbox's long poll (one request that the server answers
when the SMS lands); a server without it (the variant "base") is polled every 0.25 s as
before. Reported per signature: CPU of the server processes, of their CPU pools, and of
this client (flows and /healthz sampler). `--spy PREFIX` records the server processes
with py-spy during the measured part; the variant `profile` runs the server under
cProfile (bench/profile_server.py).

Variants run alternately in the same run (A B, B A, A B, ...), so that both see the same
machine load; this machine is shared and its load moves a lot between minutes:

- before: as at commit 7ce4610 (bench/baseline_server.py): migration scripts compiled on
  every /healthz; pyHanko's timestamp client built per signature; pool processes at the
  server's priority; no gc.freeze() at start-up; the standard asyncio event loop
- after:  the current code (uvloop by default since dec3794); after-asyncio: the same on
  the standard loop
- only-health, only-nice, only-tsa, only-gc: one of the changes alone; no-gc-freeze: all
  but that one; after-1-worker: a pool of one process
- any of them with config overrides, e.g. `after@CPU_POOL_NICE=19`

Results go between the markers in the "Signing under load" section of docs/benchmarks.md.

    .venv/bin/python bench/signing_server.py [--signatures 100] [--concurrency 10]
        [--rounds 3] [--variants before,after] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import datetime as dt
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import cpu_seconds, free_port, wait_for_port  # noqa: E402
from core import cpu  # noqa: E402
from core.config import load_config  # noqa: E402
from core.context import RequestMeta  # noqa: E402
from core.contracts import demo, disclosure, send  # noqa: E402
from core.contracts.send import Box, SignerSpec  # noqa: E402
from core.signatures import add_signature  # noqa: E402
from core.signing import service  # noqa: E402
from core.signing.samples import EMPLOYEE_BOX, sample_contract_pdf  # noqa: E402

SECTION = "## Signing under load"
BEGIN = "<!-- bench/signing_server.py results -->"
END = "<!-- end of bench/signing_server.py results -->"
META = RequestMeta(ip="127.0.0.1", user_agent="bench")
BENCH_PASSWORD = "Bench@2026"  # noqa: S105  (throw-away accounts in a temp database)
WARMUP = 4  # concurrent, so that every pool process has started before measuring

Job = tuple[str, str, str]  # contract id, employee phone, bearer token


@dataclass(frozen=True)
class Variant:
    description: str
    # Parts put back as they were (bench/baseline_server.py): "health", "tsa", "gc".
    baseline: frozenset[str] = frozenset()
    env: dict[str, str] = field(default_factory=dict)
    # Run the server from this source tree (--base-tree) instead of this one.
    other_tree: bool = False


CORES = os.cpu_count() or 1
OLD_LOOP = {"LABORSIGN_SERVER_EVENT_LOOP": "asyncio"}
OLD_POOL = {**OLD_LOOP, "LABORSIGN_CPU_POOL_NICE": "0",
            "LABORSIGN_CPU_POOL_WORKERS": str(max(1, min(4, CORES)))}
VARIANTS = {
    "before": Variant("as at 7ce4610", frozenset({"health", "tsa", "gc"}), OLD_POOL),
    "after": Variant("current code"),
    "after-asyncio": Variant("current code on the standard event loop", frozenset(),
                             OLD_LOOP),
    "only-health": Variant("before + the health change", frozenset({"tsa", "gc"}), OLD_POOL),
    "only-nice": Variant("before + the niced pool", frozenset({"health", "tsa", "gc"}),
                         OLD_LOOP),
    "only-tsa": Variant("before + the timestamp client change", frozenset({"health", "gc"}),
                        OLD_POOL),
    "only-gc": Variant("before + the frozen start-up heap", frozenset({"health", "tsa"}),
                       OLD_POOL),
    "no-gc-freeze": Variant("current code without gc.freeze()", frozenset({"gc"})),
    "after-1-worker": Variant("current code, one pool process", frozenset(),
                              {"LABORSIGN_CPU_POOL_WORKERS": "1"}),
    "profile": Variant("current code, the server under cProfile (bench/profile_server.py)",
                       env={"BENCH_PROFILE": "1"}),
    "base": Variant("the code in --base-tree (a git worktree of an earlier commit)",
                    other_tree=True),
}
BASE_TREE: Path | None = None
SPY: str | None = None  # --spy: py-spy profiles of the server processes, this path prefix


def variant_spec(name: str) -> Variant:
    """A named variant, optionally with config overrides: `after@CPU_POOL_NICE=19`."""
    base, *overrides = name.split("@")
    spec = VARIANTS[base]
    extra = dict(o.split("=", 1) for o in overrides)
    return Variant(spec.description, spec.baseline,
                   {**spec.env, **{f"LABORSIGN_{k.upper()}": v for k, v in extra.items()}},
                   spec.other_tree)


@dataclass
class RunResult:
    variant: str
    round: int
    started: str
    health: list[float]
    signings: list[float]
    errors: list[str]
    wall: float
    load_before: float
    load_after: float
    server_cpu: float
    pool_cpu: float
    pool_processes: int
    client_cpu: float = 0.0  # this process: the signing flows and the /healthz sampler
    # The work the signatures left queued (each completed contract's evidence report and
    # notices; a bulk job steps aside while requests wait): CPU from the start of the
    # measured part until the processes are idle again, and how long that took.
    server_cpu_settled: float = 0.0
    pool_cpu_settled: float = 0.0
    settle_seconds: float = 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def seed(env: dict[str, str], count: int, batches: int) -> list[list[Job]]:
    """`batches` lists of `count` + WARMUP jobs, one contract per employee per batch."""
    from core.accounts import ensure_demo_user
    from core.sessions import start_session
    from handlers.app import build_deps
    from storage.models import User

    config = load_config(env=env)
    deps = build_deps(config)
    try:
        hr_id = await ensure_demo_user(deps, phone="13800000002", password=BENCH_PASSWORD)
        await demo.verify_person_dev(deps, hr_id, "李四", "002")
        enterprise_id = await demo.certify_enterprise_dev(deps, hr_id)
        pdf = sample_contract_pdf(3)
        png = demo.handwriting_png()
        people: list[tuple[str, str]] = []  # (phone, token)
        for i in range(count + WARMUP):
            phone = f"136{i + 1:08d}"  # never ...0000: the dev carrier check fails those
            user_id = await ensure_demo_user(deps, phone=phone, password=BENCH_PASSWORD)
            await demo.verify_person_dev(deps, user_id, "张三", f"{100 + i:03d}")
            await add_signature(deps, user_id, png, META)
            # The signing disclosure (告知) is read and accepted once, before a first signing.
            await disclosure.show(deps, user_id, None, META)
            await disclosure.accept(deps, user_id, None, META)
            # Issued now, not at the first signature, so that every run does the same work.
            await service.issue_person_certificate(deps, user_id, meta=META)
            async with deps.db.transaction() as tx:
                user = await tx.session.get(User, user_id)
                assert user is not None
                issued = await start_session(tx, deps, user, "password", META)
            people.append((phone, issued.token))
        gate = asyncio.Semaphore(4)

        async def contract(batch: int, i: int) -> Job:
            phone, token = people[i]
            async with gate:
                contract_id = await send.create_and_send(
                    deps, hr_id, enterprise_id, title=f"压测合同 {batch + 1}-{i + 1}",
                    filename="bench.pdf", pdf=pdf,
                    signers=[SignerSpec("person", (Box(2, EMPLOYEE_BOX),), name="张三",
                                        phone=phone)],
                    meta=META)
            return contract_id, phone, token

        return [
            list(await asyncio.gather(*(contract(b, i) for i in range(len(people)))))
            for b in range(batches)
        ]
    finally:
        await deps.db.dispose()
        cpu.shutdown()  # the seeding's own pool processes


async def sign_one(http: aiohttp.ClientSession, base: str, contract_id: str, phone: str,
                   token: str) -> float:
    started = time.perf_counter()
    auth = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{base}/api/v1/contracts/{contract_id}/sign/code", json={},
                         headers=auth) as r:
        if r.status != 200:
            raise RuntimeError(f"code: {r.status} {await r.text()}")
    code = await (read_code_waiting(http, base, phone) if LONG_POLL.get()
                  else read_code_polling(http, base, phone))
    USED_CODES.setdefault(phone, set()).add(code)
    async with http.post(f"{base}/api/v1/contracts/{contract_id}/sign", json={"code": code},
                         headers=auth) as r:
        body = await r.json()
        if r.status != 200 or body.get("state") != "signed":
            raise RuntimeError(f"sign: {r.status} {body}")
    return (time.perf_counter() - started) * 1000


USED_CODES: dict[str, set[str]] = {}
LAST_SMS: dict[str, str] = {}  # phone -> id of the newest message read
# The client waits for the code with the dev inbox's long poll (one request); servers
# that do not have it (the variant "base") are polled as before.
LONG_POLL: contextvars.ContextVar[bool] = contextvars.ContextVar("long_poll", default=True)


async def read_code_polling(http: aiohttp.ClientSession, base: str, phone: str) -> str:
    await asyncio.sleep(0.3)  # the outbox worker delivers within its poll interval
    for _ in range(100):
        async with http.get(f"{base}/dev/api/sms", params={"phone": phone}) as r:
            # Newest first; every batch asks this phone for a new code.
            codes = [m["code"] for m in (await r.json())["messages"] if m["code"]]
        if codes and codes[0] not in USED_CODES.get(phone, ()):
            return str(codes[0])
        await asyncio.sleep(0.25)  # gentle: the polling must not be the load we measure
    raise RuntimeError("no code arrived")


async def read_code_waiting(http: aiohttp.ClientSession, base: str, phone: str) -> str:
    for _ in range(6):
        params = {"phone": phone, "wait": "10", "template": "code"}
        if phone in LAST_SMS:
            params["after"] = LAST_SMS[phone]
        async with http.get(f"{base}/dev/api/sms", params=params) as r:
            messages = (await r.json())["messages"]
        if messages:
            # The next ask waits for one newer than this, even if this one was used
            # (read by polling, in a run of a server without the long poll).
            LAST_SMS[phone] = messages[0]["id"]
            if messages[0]["code"] not in USED_CODES.get(phone, ()):
                return str(messages[0]["code"])
    raise RuntimeError("no code arrived")


async def warm_up(base: str, jobs: list[Job]) -> None:
    """Pool processes start and import pyHanko; the first /healthz reads the head."""
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(sign_one(http, base, *job) for job in jobs))
        async with http.get(f"{base}/healthz") as r:
            if r.status != 200:
                raise RuntimeError(f"healthz: {r.status} {await r.text()}")


async def run(base: str, jobs: list[Job], concurrency: int
              ) -> tuple[list[float], list[float], list[str], float]:
    health: list[float] = []
    signings: list[float] = []
    errors: list[str] = []
    done = asyncio.Event()
    async with aiohttp.ClientSession() as http:

        async def sample() -> None:
            async with aiohttp.ClientSession() as probe:  # its own connection pool
                while not done.is_set():
                    started = time.perf_counter()
                    async with probe.get(f"{base}/healthz") as r:
                        await r.read()
                    health.append((time.perf_counter() - started) * 1000)
                    await asyncio.sleep(0.01)

        gate = asyncio.Semaphore(concurrency)

        async def one(job: Job) -> None:
            async with gate:
                try:
                    signings.append(await sign_one(http, base, *job))
                except Exception as exc:
                    errors.append(str(exc)[:300])

        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        await asyncio.gather(*(one(job) for job in jobs))
        wall = time.perf_counter() - started
        done.set()
        await sampler
    return health, signings, errors, wall


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (multiprocessing's resource trackers left out)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if b"resource_tracker" not in (stat.parent / "cmdline").read_bytes():
                parents.setdefault(ppid, []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, []))
    return found


def _is_pool(pid: int) -> bool:
    try:  # the CPU pool is started with "spawn"; web processes are forked (same command)
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def split_processes(pids: list[int]) -> tuple[list[int], list[int]]:
    """(server processes: web processes and the job worker, pool processes) of the trees."""
    every = [p for pid in pids for p in _tree(pid)]
    return [p for p in every if not _is_pool(p)], [p for p in every if _is_pool(p)]


def serve_once(env: dict[str, str], variant: str, rnd: int, jobs: list[Job],
               concurrency: int, log: Path | None, web: int = 1,
               job_worker: bool = False) -> RunResult:
    spec = variant_spec(variant)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    run_env = {**env, **spec.env, "LABORSIGN_SERVER_PORT": str(port),
               "LABORSIGN_SERVER_BASE_URL": base, "BENCH_BASELINE": ",".join(spec.baseline)}
    entry = ([str(ROOT / "bench" / "baseline_server.py")] if spec.baseline
             else ["-m", "handlers.cli"])
    if "BENCH_PROFILE" in spec.env:
        entry = [str(ROOT / "bench" / "profile_server.py")]
        run_env["BENCH_PROFILE"] = f"{SPY or 'signing'}.{variant}.{rnd}.pstats"
    tree = ROOT
    if spec.other_tree:
        if BASE_TREE is None:
            raise SystemExit("variant 'base' needs --base-tree")
        # Same interpreter and packages; the tree's own code first on the path (the pool
        # processes inherit it).
        tree = BASE_TREE
        run_env["PYTHONPATH"] = str(BASE_TREE)
    if job_worker:
        run_env["LABORSIGN_OUTBOX_RUN_IN_WEB"] = "false"
    out = log.open("ab") if log else subprocess.DEVNULL
    # Each in its own process group: `serve --workers 2` forks web processes that a
    # signal to the parent alone would leave running (holding database connections).
    procs = [subprocess.Popen([sys.executable, *entry, "serve", "--no-migrate",
                               "--workers", str(web)], cwd=tree, start_new_session=True,
                              env=run_env, stdout=out, stderr=subprocess.STDOUT)]
    if job_worker:
        procs.append(subprocess.Popen([sys.executable, *entry, "worker"], cwd=tree,
                                      start_new_session=True, env=run_env, stdout=out,
                                      stderr=subprocess.STDOUT))
    roots = [p.pid for p in procs]
    LONG_POLL.set(not spec.other_tree)
    try:
        wait_for_port(port)
        asyncio.run(warm_up(base, jobs[:WARMUP]))
        load_before = os.getloadavg()[0]
        started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
        server0, pool0 = split_processes(roots)
        before = {p: cpu_seconds(p) for p in server0 + pool0}
        spies = [subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(p), "-r", "100",
             "-f", "raw", "-o", f"{SPY}.{variant}.{rnd}.{p}.txt", "--nonblocking", "-s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in server0] if SPY else []
        client0 = time.process_time()
        health, signings, errors, wall = asyncio.run(run(base, jobs[WARMUP:], concurrency))
        client_cpu = time.process_time() - client0
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait()
        servers, pool = split_processes(roots)
        server_cpu = sum(cpu_seconds(p) - before.get(p, 0.0) for p in servers)
        pool_cpu = sum(cpu_seconds(p) - before.get(p, 0.0) for p in pool)
        load_after = os.getloadavg()[0]
        settle_seconds = settle(servers + pool)
        server_settled = sum(cpu_seconds(p) - before.get(p, 0.0) for p in servers)
        pool_settled = sum(cpu_seconds(p) - before.get(p, 0.0) for p in pool)
    finally:
        stop_groups(procs)
    return RunResult(variant, rnd, started, health, signings, errors, wall, load_before,
                     load_after, server_cpu, pool_cpu, len(pool), client_cpu,
                     server_settled, pool_settled, settle_seconds)


IDLE_CPU_SHARE = 0.05  # of one core, over a second: the queued work is done
SETTLE_LIMIT = 180.0


def settle(pids: list[int]) -> float:
    """Seconds until the processes are idle again (their CPU over a second below
    IDLE_CPU_SHARE of a core), at most SETTLE_LIMIT."""
    started = time.monotonic()
    last = sum(cpu_seconds(p) for p in pids)
    while time.monotonic() - started < SETTLE_LIMIT:
        time.sleep(1.0)
        now = sum(cpu_seconds(p) for p in pids)
        if now - last < IDLE_CPU_SHARE:
            return time.monotonic() - started - 1.0
        last = now
    return SETTLE_LIMIT


def stop_groups(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each server's whole process group, SIGKILL to what is left after 15 s."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    time.sleep(1)  # forked web processes exit after their parent
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def row(r: RunResult) -> str:
    n = len(r.signings)
    return (
        f"| {r.variant} | {r.round} | {r.started} | {r.load_before:.1f} → {r.load_after:.1f} | "
        f"{n} | {len(r.errors)} | {n / r.wall:.2f} | {percentile(r.signings, 50):.0f} | "
        f"{len(r.health)} | {percentile(r.health, 50):.1f} | {percentile(r.health, 99):.1f} | "
        f"{max(r.health, default=0):.1f} | {1000 * r.server_cpu / max(n, 1):.0f} | "
        f"{1000 * r.pool_cpu / max(n, 1):.0f} ({r.pool_processes}) | "
        f"{1000 * r.client_cpu / max(n, 1):.0f} | "
        f"{1000 * r.server_cpu_settled / max(n, 1):.0f} | "
        f"{1000 * r.pool_cpu_settled / max(n, 1):.0f} | {r.settle_seconds:.0f} |"
    )


def summary(results: list[RunResult], variants: list[str]) -> str:
    lines = ["| variant | runs | healthz p50 ms | healthz p99 ms | healthz max ms | "
             "signatures/s |", "|---|---:|---:|---:|---:|---:|"]
    for v in variants:
        rs = [r for r in results if r.variant == v]
        if not rs:
            continue

        def spread(values: list[float], fmt: str = "{:.1f}") -> str:
            lo, med, hi = min(values), statistics.median(values), max(values)
            return f"{fmt.format(med)} ({fmt.format(lo)}–{fmt.format(hi)})"

        lines.append(
            f"| {v} | {len(rs)} | {spread([percentile(r.health, 50) for r in rs])} | "
            f"{spread([percentile(r.health, 99) for r in rs])} | "
            f"{spread([max(r.health, default=0) for r in rs])} | "
            f"{spread([len(r.signings) / r.wall for r in rs], '{:.2f}')} |"
        )
    return "\n".join(lines)


def markers(db: str) -> tuple[str, str]:
    """One block of results per database, so that a PostgreSQL run keeps the SQLite one."""
    if db == "SQLite":
        return BEGIN, END
    return BEGIN.replace(" -->", f": {db} -->"), END.replace(" -->", f": {db} -->")


def report(results: list[RunResult], variants: list[str], args: argparse.Namespace,
           db: str) -> str:
    begin, end = markers(db)
    topology = f" --web {args.web}" + (" --job-worker" if args.job_worker else "")
    return (
        f"{begin}\n"
        f"Run {results[0].started}–{results[-1].started} UTC, {platform.machine()}, "
        f"{CORES} cores, Python {platform.python_version()}, {db}; "
        f"`bench/signing_server.py --signatures {args.signatures} --concurrency "
        f"{args.concurrency} --rounds {args.rounds} --variants {','.join(variants)}"
        f"{topology if topology != ' --web 1' else ''}`. "
        f"Median over the rounds (min–max in brackets):\n\n"
        f"{summary(results, variants)}\n\n"
        f"Every run (load: 1-minute load average before → after; CPU ms per signature of "
        f"the server processes (web processes and job worker; TSA and database threads "
        f"included), of the pool processes (their number in brackets), and of the load "
        f"client with its /healthz sampler; then the same server and pool CPU again with "
        f"the work the signatures left queued (evidence reports, notices), counted until "
        f"the processes were idle, and the seconds that took after the last signature):"
        f"\n\n"
        f"| variant | round | start (UTC) | load | signatures | errors | signatures/s | "
        f"flow p50 ms | healthz samples | p50 ms | p99 ms | max ms | server CPU ms | "
        f"pool CPU ms | client CPU ms | server CPU ms with after-work | "
        f"pool CPU ms with after-work | after-work s |\n"
        f"|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        f"---:|---:|\n"
        + "\n".join(row(r) for r in results)
        + f"\n{end}\n"
    )


def write_results(text: str, db: str) -> None:
    begin, end = markers(db)
    path = ROOT / "docs" / "benchmarks.md"
    current = path.read_text()
    if begin in current and end in current:
        start = current.index(begin)
        stop = current.index(end) + len(end) + 1
        path.write_text(current[:start] + text + current[stop:])
    elif SECTION in current:
        at = current.index(SECTION) + len(SECTION)
        path.write_text(current[:at] + "\n\n" + text + current[at:])
    else:
        path.write_text(current.rstrip() + f"\n\n{SECTION}\n\n{text}")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--signatures", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--variants", default="before,after",
                   help=f"comma separated, of: {', '.join(VARIANTS)}; a variant may add "
                        "config overrides: after@CPU_POOL_NICE=19@CPU_POOL_WORKERS=1")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--server-log", type=Path, help="keep the servers' output in this file")
    p.add_argument("--web", type=int, default=1, help="web processes (serve --workers)")
    p.add_argument("--job-worker", action="store_true",
                   help="jobs in a separate `laborsign worker` process, not in the web ones")
    p.add_argument("--base-tree", type=Path,
                   help="source tree for the variant 'base', e.g. a `git worktree add` of main")
    p.add_argument("--spy", help="record the server processes with py-spy (raw folded "
                   "stacks) into files with this path prefix")
    args = p.parse_args()
    global BASE_TREE, SPY
    SPY = args.spy
    BASE_TREE = args.base_tree.resolve() if args.base_tree else None
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants
               if v.split("@")[0] not in VARIANTS or any("=" not in o for o in v.split("@")[1:])]
    if unknown:
        p.error(f"unknown variants: {', '.join(unknown)}")
    schedule = [
        (v, rnd + 1)
        for rnd in range(args.rounds)
        for v in (variants if rnd % 2 == 0 else list(reversed(variants)))
    ]
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ, "LABORSIGN_SERVER_VAR_DIR": tmp, "LABORSIGN_SERVER_DEV_MODE": "true",
            "LABORSIGN_SERVER_SECRET_KEY": "bench-secret-key-not-for-production",
            "LABORSIGN_STORAGE_FILE_DIR": f"{tmp}/files", "LABORSIGN_SIGNING_CA_DIR": f"{tmp}/ca",
            # The outbox poll interval stays at the shipped 1 s: the SMS with the code is
            # delivered at once anyway (the worker is woken when its transaction commits).
            # Every code is requested from 127.0.0.1, and each phone once per run.
            "LABORSIGN_SMS_PER_IP_HOURLY": "100000",
            "LABORSIGN_SMS_PER_PHONE_INTERVAL_SECONDS": "1",
            "LABORSIGN_SMS_PER_PHONE_HOURLY": "1000",
            "LABORSIGN_SMS_PER_PHONE_DAILY": "1000",
        }
        env.setdefault("LABORSIGN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp}/bench.db")
        subprocess.run([sys.executable, "-m", "handlers.cli", "migrate"], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        batches = asyncio.run(seed(env, args.signatures, len(schedule)))
        for (variant, rnd), jobs in zip(schedule, batches, strict=True):
            result = serve_once(env, variant, rnd, jobs, args.concurrency, args.server_log,
                                args.web, args.job_worker)
            results.append(result)
            print(row(result), flush=True)
            for e in result.errors[:5]:
                print("  error:", e)
    db = "PostgreSQL" if "postgresql" in env["LABORSIGN_DATABASE_URL"] else "SQLite"
    text = report(results, variants, args, db)
    print(text)
    if not args.no_write:
        write_results(text, db)
    after = [r for r in results if r.variant == "after"] or results
    ok = all(not r.errors for r in results) and all(
        percentile(r.health, 99) < 50 for r in after)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
