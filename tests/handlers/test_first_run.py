"""The first run: `laborsign serve --port P` as scripts/run.sh starts it, without a base URL.

The links, redirects and the built-in TSA must follow the port really listened on, and
the console says where to open the product, where the dev SMS inbox is and how to stop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from core.config import Config
from tests.contract_support import parties, send_contract
from tests.enterprise_factories import session_token

REPO = Path(__file__).resolve().parents[2]
API = "/api/v1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(config: Config) -> dict[str, str]:
    """The test's database, keys and folders; no LABORSIGN_* from the caller's shell (above
    all no base URL: the point is what happens without one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABORSIGN_")}
    var = config.var_dir
    env.update({
        "LABORSIGN_DATABASE_URL": config.database.url,
        "LABORSIGN_SERVER_SECRET_KEY": config.server.secret_key,
        "LABORSIGN_SERVER_VAR_DIR": str(var),
        "LABORSIGN_STORAGE_FILE_DIR": config.storage.file_dir,
        "LABORSIGN_SIGNING_CA_DIR": config.signing.ca_dir,
        "LABORSIGN_OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
    })
    return env


def serve(config: Config, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "handlers.cli", "serve", "--no-migrate", *args],
        env=server_env(config), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def server(config: Config) -> Iterator[tuple[str, str]]:
    """(url, first lines printed) of a server on a free port other than the configured."""
    port = free_port()
    assert port != config.server.port
    proc = serve(config, "--port", str(port))
    printed: list[str] = []
    deadline = time.monotonic() + 30
    try:
        assert proc.stdout is not None
        while not any("Ctrl+C" in line for line in printed):
            line = proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise AssertionError("server did not start:\n" + "".join(printed))
            printed.append(line)
        # Keep reading the request log so a full pipe never blocks the server.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield f"http://127.0.0.1:{port}", "".join(printed)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


async def _code(http: aiohttp.ClientSession, url: str, phone: str, seen: int) -> str:
    """The newest code among the messages after the first `seen`, newest first: the
    contract's notice goes out on its own job queue and may land after the code."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        async with http.get(f"{url}/dev/api/sms", params={"phone": phone}) as resp:
            messages = (await resp.json())["messages"]
        codes = [m["code"] for m in messages[:max(len(messages) - seen, 0)] if m["code"]]
        if codes:
            return str(codes[0])
        await asyncio.sleep(0.2)
    raise AssertionError(f"no new SMS code for {phone}")


async def test_another_port_is_followed_by_links_and_the_builtin_tsa(
    deps, config: Config, server: tuple[str, str]
) -> None:
    url, printed = server
    p = await parties(deps)
    contract_id = await send_contract(deps, p)
    token = await session_token(deps, p.employee_id)
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/dev/api/sms", params={"phone": p.employee_phone}) as resp:
            seen = len((await resp.json())["messages"])
        async with http.post(f"{url}{API}/contracts/{contract_id}/sign/code", json={},
                             headers=auth) as resp:
            assert resp.status == 200, await resp.text()
        code = await _code(http, url, p.employee_phone, seen)
        # Signing timestamps through the server's own /tsa: at base_url, which must be
        # this port (the configured 8080 has nobody listening: tsa_unavailable).
        async with http.post(f"{url}{API}/contracts/{contract_id}/sign",
                             json={"code": code}, headers=auth) as resp:
            body = await resp.json()
            assert resp.status == 200, body
        assert body["state"] == "signed"
        async with http.get(f"{url}/favicon.ico") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("image/svg+xml")

    # What a person needs, at the address really listened on.
    assert f"open {url}/" in printed
    assert f"{url}/dev/sms" in printed
    assert "Ctrl+C" in printed
    assert ":8080" not in printed
    port = url.rsplit(":", 1)[1]
    assert f"LABORSIGN_SERVER_PORT={port} .venv/bin/laborsign demo" in printed


def test_a_port_in_use_is_said_plainly(config: Config) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = serve(config, "--port", str(port))
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out
    assert "Traceback" not in out and "is running" not in out


async def test_favicon_is_served_and_linked(client) -> None:
    resp = await client.get("/favicon.ico")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("image/svg+xml")
    assert (await resp.read()).lstrip().startswith(b"<svg")
    page = await (await client.get("/login")).text()
    assert 'rel="icon"' in page


CHAPTERS = ["一、劳动合同期限", "二、工作内容和工作地点", "三、工作时间和休息休假", "四、劳动报酬",
            "五、社会保险和福利待遇", "六、劳动保护、劳动条件和职业危害防护",
            "七、劳动合同的变更、解除和终止", "八、双方约定事项", "九、其他"]


@pytest.mark.skipif(any(shutil.which(t) is None for t in ("pdfsig", "certutil", "pdftotext")),
                    reason="needs poppler-utils and libnss3-tools (scripts/setup.sh test)")
def test_demo_prints_what_a_person_needs_and_its_check_works(config: Config) -> None:
    done = subprocess.run([sys.executable, "-m", "handlers.cli", "demo"], env=server_env(config),
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no library warnings, no logs
    out = done.stdout
    base = config.server.base_url
    for needed in (f"Open {base}/", "Demo@2026", "13800000001  张三", "13800000002  李四",
                   f"{base}/console", f"{base}/verify"):
        assert needed in out, out
    pdf = config.var_dir / "demo" / "sample-contract-signed.pdf"
    assert f"  {pdf}\n" in out

    # The printed pdfsig recipe, run as printed, trusts the root and finds both signatures.
    recipe = out[out.index("with pdfsig:"):].splitlines()[1:]
    assert recipe and all(line.startswith("    ") for line in recipe)
    checked = [subprocess.run(["bash", "-c", line.strip()], capture_output=True, text=True,
                              check=False) for line in recipe]
    assert [c.returncode for c in checked] == [0] * len(recipe), checked
    report = checked[-1].stdout
    assert report.count("Signature is Valid.") == 2, report
    assert report.count("Certificate is Trusted.") == 2, report

    # A Chinese labour contract in the model text's shape, with real text.
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    squeezed = "".join(text.split())
    for needed in ["劳动合同书", "甲方（用人单位）", "乙方（劳动者）", *CHAPTERS,
                   "甲方（盖章）", "法定代表人", "乙方（签字）", "日期："]:
        assert needed in squeezed, needed
