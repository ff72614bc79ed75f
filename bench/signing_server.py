"""Signing under load: does the server stay responsive while it signs?

Starts `laborsign serve` on a free port with a fresh SQLite database (or the database in
LABORSIGN_DATABASE_URL), seeds a certified enterprise, N verified employees with a
handwritten signature and one sent contract each (through the core services), then runs
N signatures through the real API flow — request the SMS code, read it from the dev inbox,
confirm — `--concurrency` at a time, every one timestamped by the server's own TSA over
HTTP. Meanwhile GET /healthz is sampled back to back; its p99 must stay under 50 ms
because signing runs in the process pool, not on the event loop. Results go to the
"Signing under load" section of docs/benchmarks.md.

    .venv/bin/python bench/signing_server.py [--signatures 100] [--concurrency 10] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_config  # noqa: E402
from core.context import RequestMeta  # noqa: E402
from core.contracts import demo, send  # noqa: E402
from core.contracts.send import Box, SignerSpec  # noqa: E402
from core.signatures import add_signature  # noqa: E402
from core.signing.samples import EMPLOYEE_BOX, sample_contract_pdf  # noqa: E402

SECTION = "## Signing under load"
META = RequestMeta(ip="127.0.0.1", user_agent="bench")
BENCH_PASSWORD = "Bench@2026"  # noqa: S105  (throw-away accounts in a temp database)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def seed(env: dict[str, str], count: int) -> list[tuple[str, str, str]]:
    """(contract id, employee phone, bearer token) per signature to make."""
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
        out = []
        for i in range(count):
            phone = f"136{i + 1:08d}"  # never ...0000: the dev carrier check fails those
            user_id = await ensure_demo_user(deps, phone=phone, password=BENCH_PASSWORD)
            await demo.verify_person_dev(deps, user_id, "张三", f"{100 + i:03d}")
            await add_signature(deps, user_id, png, META)
            contract_id = await send.create_and_send(
                deps, hr_id, enterprise_id, title=f"压测合同 {i + 1}", filename="bench.pdf",
                pdf=pdf, signers=[SignerSpec("person", (Box(2, EMPLOYEE_BOX),), name="张三",
                                             phone=phone)],
                meta=META)
            async with deps.db.transaction() as tx:
                user = await tx.session.get(User, user_id)
                assert user is not None
                issued = await start_session(tx, deps, user, "password", META)
            out.append((contract_id, phone, issued.token))
        return out
    finally:
        await deps.db.dispose()


async def sign_one(http: aiohttp.ClientSession, base: str, contract_id: str, phone: str,
                   token: str) -> float:
    started = time.perf_counter()
    auth = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{base}/api/v1/contracts/{contract_id}/sign/code", json={},
                         headers=auth) as r:
        if r.status != 200:
            raise RuntimeError(f"code: {r.status} {await r.text()}")
    code = None
    await asyncio.sleep(0.3)  # the outbox worker delivers within its poll interval
    for _ in range(100):
        async with http.get(f"{base}/dev/api/sms", params={"phone": phone}) as r:
            codes = [m["code"] for m in (await r.json())["messages"] if m["code"]]
        if codes:
            code = codes[0]
            break
        await asyncio.sleep(0.25)  # gentle: the polling must not be the load we measure
    if code is None:
        raise RuntimeError("no code arrived")
    async with http.post(f"{base}/api/v1/contracts/{contract_id}/sign", json={"code": code},
                         headers=auth) as r:
        body = await r.json()
        if r.status != 200 or body.get("state") != "signed":
            raise RuntimeError(f"sign: {r.status} {body}")
    return (time.perf_counter() - started) * 1000


async def run(base: str, jobs: list[tuple[str, str, str]], concurrency: int
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

        async def one(job: tuple[str, str, str]) -> None:
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


def write_section(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION in current:
        start = current.index(SECTION)
        rest = current[start + len(SECTION):]
        nxt = rest.find("\n## ")
        current = current[:start] + (rest[nxt + 1:] if nxt >= 0 else "")
    path.write_text(current.rstrip() + "\n\n" + text.rstrip() + "\n")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--signatures", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--server-log", type=Path, help="keep the server's output in this file")
    args = p.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ, "LABORSIGN_SERVER_PORT": str(port), "LABORSIGN_SERVER_VAR_DIR": tmp,
            "LABORSIGN_SERVER_BASE_URL": base, "LABORSIGN_SERVER_DEV_MODE": "true",
            "LABORSIGN_SERVER_SECRET_KEY": "bench-secret-key-not-for-production",
            "LABORSIGN_STORAGE_FILE_DIR": f"{tmp}/files", "LABORSIGN_SIGNING_CA_DIR": f"{tmp}/ca",
            "LABORSIGN_OUTBOX_POLL_INTERVAL_SECONDS": "0.1",
            # Every code is requested from 127.0.0.1: lift the per-IP hourly SMS cap.
            "LABORSIGN_SMS_PER_IP_HOURLY": "100000",
        }
        env.setdefault("LABORSIGN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp}/bench.db")
        subprocess.run([sys.executable, "-m", "handlers.cli", "migrate"], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        jobs = asyncio.run(seed(env, args.signatures))
        log = args.server_log.open("wb") if args.server_log else subprocess.DEVNULL
        server = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "serve", "--no-migrate"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(300):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.1)
            health, signings, errors, wall = asyncio.run(run(base, jobs, args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=15)
    db = "PostgreSQL" if "postgresql" in env["LABORSIGN_DATABASE_URL"] else "SQLite"
    h50, h99 = percentile(health, 50), percentile(health, 99)
    report = (
        f"{SECTION}\n\n"
        f"`bench/signing_server.py`: {args.signatures} signatures through the real flow "
        f"(API: request the SMS code, read it from the dev inbox, confirm; visible "
        f"handwritten stamp, ECDSA P-256, timestamped by the server's own TSA over HTTP, "
        f"CRLs embedded) against `laborsign serve` (1 worker, {db}, signing in the process "
        f"pool), {args.concurrency} signers at a time, {os.cpu_count()} CPU cores. "
        f"GET /healthz sampled back to back (10 ms pause) during the whole run.\n\n"
        f"| signatures | errors | wall s | signatures/s | flow p50 ms | flow p99 ms | "
        f"healthz samples | healthz p50 ms | healthz p99 ms | healthz max ms |\n"
        f"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {len(signings)} | {len(errors)} | {wall:.1f} | {len(signings) / wall:.1f} | "
        f"{percentile(signings, 50) if signings else 0:.0f} | "
        f"{percentile(signings, 99) if signings else 0:.0f} | {len(health)} | {h50:.1f} | "
        f"{h99:.1f} | {max(health):.1f} |\n\n"
        f"Target: /healthz p99 < 50 ms while signing (mean {statistics.mean(health):.1f} ms).\n"
    )
    print(report)
    for e in errors[:10]:
        print("error:", e)
    if not args.no_write:
        write_section(report)
    return 0 if not errors and h99 < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
