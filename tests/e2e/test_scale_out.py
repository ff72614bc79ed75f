"""Scale-out on PostgreSQL: `laborsign serve --workers 2` with jobs turned off in the web
processes, plus two `laborsign worker` processes, run a whole contract flow over the API;
every periodic task runs once per period across the four processes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from core.config import Config
from core.housekeeping import TASKS
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from storage.models import AuditEntry, OutboxMessage, PeriodicRun
from tests.contract_support import parties
from tests.e2e.conftest import free_port
from tests.enterprise_factories import user_phone
from tests.factories import get_user, login_as

pytestmark = pytest.mark.skipif(not os.environ.get("LABORSIGN_TEST_DATABASE_URL"),
                                reason="several processes share one database on PostgreSQL")
ROOT = Path(__file__).resolve().parents[2]


def _env(config: Config, url: str, port: int) -> dict[str, str]:
    """The processes share the test's database, secrets, CA and files."""
    return {
        **os.environ,
        "LABORSIGN_DATABASE_URL": config.database.url,
        "LABORSIGN_SERVER_HOST": "127.0.0.1",
        "LABORSIGN_SERVER_PORT": str(port),
        "LABORSIGN_SERVER_BASE_URL": url,
        "LABORSIGN_SERVER_DEV_MODE": "true",
        "LABORSIGN_SERVER_SECRET_KEY": config.server.secret_key,
        "LABORSIGN_SERVER_VAR_DIR": str(config.var_dir),
        "LABORSIGN_STORAGE_FILE_DIR": config.storage.file_dir,
        "LABORSIGN_SIGNING_CA_DIR": config.signing.ca_dir,
        "LABORSIGN_OUTBOX_RUN_IN_WEB": "false",
        "LABORSIGN_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
    }


def _start(env: dict[str, str], log: Path) -> list[subprocess.Popen[bytes]]:
    commands = [["serve", "--no-migrate", "--workers", "2"], ["worker"], ["worker"]]
    with log.open("wb") as out:
        return [subprocess.Popen([sys.executable, "-m", "handlers.cli", *args], env=env,
                                 cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
                for args in commands]


async def _wait_healthy(url: str, procs: list[subprocess.Popen[bytes]], log: Path) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break
            try:
                async with http.get(f"{url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    tail = (await asyncio.to_thread(log.read_text))[-3000:]
    raise AssertionError("the processes did not start:\n" + tail)


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` now (the servers `serve --workers` forks, the CPU pools)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _stop(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    """SIGTERM to each command's own process only, as a service manager sends it; the
    pids of their descendants that are still running 15 s later."""
    below = set().union(*(_descendants(proc.pid) for proc in procs))
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    deadline = time.monotonic() + 15
    while (left := sorted(pid for pid in below if _alive(pid))) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


async def _sms_code(http: aiohttp.ClientSession, url: str, phone: str) -> str:
    """The newest code for `phone`, sent by whichever worker ran the job."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        async with http.get(f"{url}/dev/api/sms", params={"phone": phone}) as r:
            codes = [m["code"] for m in (await r.json())["messages"] if m["code"]]
        if codes:
            return codes[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no code for {phone}")


async def _sign(http: aiohttp.ClientSession, url: str, deps, user_id: str,
                contract_id: str) -> dict:
    user = await get_user(deps, user_id)
    headers = (await login_as(deps, user)).headers
    async with http.post(f"{url}/api/v1/contracts/{contract_id}/sign/code", json={},
                         headers=headers) as r:
        assert r.status == 200, await r.text()
    code = await _sms_code(http, url, await user_phone(deps, user_id))
    async with http.post(f"{url}/api/v1/contracts/{contract_id}/sign", json={"code": code},
                         headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_two_web_processes_and_two_workers_run_the_contract_flow(
        deps, config: Config, tmp_path: Path) -> None:
    p = await parties(deps)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _env(config, url, port)
    log = tmp_path / "processes.log"
    started = time.monotonic()
    procs = await asyncio.to_thread(_start, env, log)
    try:
        await _wait_healthy(url, procs, log)
        async with aiohttp.ClientSession() as http:
            admin = (await login_as(deps, await get_user(deps, p.admin_id))).headers
            form = aiohttp.FormData()
            form.add_field("enterprise_id", p.enterprise_id)
            form.add_field("title", "劳动合同（多进程）")
            form.add_field("signers", json.dumps([
                {"party": "person", "name": "张三", "phone": p.employee_phone, "order": 1,
                 "boxes": [{"page": 3, "rect": list(EMPLOYEE_BOX)}]},
                {"party": "enterprise", "seal_id": p.seal_id, "order": 2,
                 "boxes": [{"page": 3, "rect": list(ENTERPRISE_BOX)}]},
            ]))
            form.add_field("file", sample_contract_pdf(3), filename="contract.pdf",
                           content_type="application/pdf")
            async with http.post(f"{url}/api/v1/contracts", data=form, headers=admin) as r:
                assert r.status == 201, await r.text()
                contract_id = (await r.json())["id"]
            await _sign(http, url, deps, p.employee_id, contract_id)
            done = await _sign(http, url, deps, p.sealer_id, contract_id)
            assert done["contract_state"] == "completed"
            async with http.get(f"{url}/api/v1/contracts/{contract_id}/document",
                                headers=admin) as r:
                assert r.status == 200
                signed = PdfFileReader(io.BytesIO(await r.read()))
                assert len(signed.embedded_signatures) == 2
        # The notifications of the flow were delivered by the workers, not the web.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            async with deps.db.sessions() as s:
                waiting = (await s.execute(select(OutboxMessage.kind).where(
                    OutboxMessage.status.in_(["queued", "sending"]),
                    OutboxMessage.next_attempt_at <= deps.clock.now()))).scalars().all()
            if not waiting:
                break
            await asyncio.sleep(0.3)
        assert waiting == []
        # Give every scheduler a few more ticks to try (and fail) to run a task again.
        await asyncio.sleep(6)
        elapsed = time.monotonic() - started
        async with deps.db.sessions() as s:
            runs = {r.name: r.runs for r in (await s.execute(select(PeriodicRun))).scalars()}
            completed = (await s.execute(select(AuditEntry.action).where(
                AuditEntry.subject_id == contract_id,
                AuditEntry.action == "contract.completed"))).scalars().all()
    finally:
        left = await asyncio.to_thread(_stop, procs)
    assert completed == ["contract.completed"]
    # Every command stopped on SIGTERM with all it had started; each had done so with
    # code 0 (not killed: a server that hung at exit would have been).
    assert left == []
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    for task in TASKS:
        periods = int(elapsed // task.every.total_seconds()) + 1
        assert 1 <= runs.get(task.name, 0) <= periods, (task.name, runs, elapsed)
