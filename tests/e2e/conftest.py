"""End-to-end fixtures: the real server in its own process on a free port, and a real
headless Chromium (Debian's) driven by Playwright in a phone-sized viewport."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
    "--lang=zh-CN",  # the browser's own widgets (file picker, date input) in Chinese
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
    ),
}
DESKTOP = {"viewport": {"width": 1280, "height": 860}, "locale": "zh-CN"}

E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder drives a browser or a live server: mark it `e2e` so
    `-m e2e` selects them and `-m "not e2e"` leaves them out (a module-level
    `pytestmark` in a conftest marks nothing)."""
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    async def sms_code(self, phone: str, wait_seconds: float = 30.0) -> str:
        """The newest code sent to `phone`, from the dev inbox (waits for the outbox)."""
        deadline = time.monotonic() + wait_seconds
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                async with http.get(f"{self.url}/dev/api/sms", params={"phone": phone}) as r:
                    messages = (await r.json())["messages"]
                codes = [m["code"] for m in messages if m["code"]]
                if codes:
                    return codes[0]
                await asyncio.sleep(0.2)
        raise AssertionError(f"no SMS code for {phone} within {wait_seconds}s")

    async def sms_count(self, phone: str) -> int:
        async with aiohttp.ClientSession() as http, http.get(
            f"{self.url}/dev/api/sms", params={"phone": phone}
        ) as r:
            return len((await r.json())["messages"])


@pytest.fixture
def live_server_env() -> dict[str, str]:
    """Extra LABORSIGN_* settings for the server; "{port}" in a value is its port.
    A test module overrides this fixture to change the server's configuration."""
    return {}


@pytest.fixture
def live_server(db_url: str, tmp_path: Path,
                live_server_env: dict[str, str]) -> Iterator[LiveServer]:
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run scripts/setup.sh test")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    var = tmp_path / "server-var"
    env = {
        **os.environ,
        "LABORSIGN_DATABASE_URL": db_url,
        "LABORSIGN_SERVER_PORT": str(port),
        "LABORSIGN_SERVER_HOST": "127.0.0.1",
        "LABORSIGN_SERVER_BASE_URL": url,
        "LABORSIGN_SERVER_DEV_MODE": "true",
        "LABORSIGN_SERVER_SECRET_KEY": "e2e-secret-key-not-for-production",
        "LABORSIGN_SERVER_VAR_DIR": str(var),
        "LABORSIGN_STORAGE_FILE_DIR": str(var / "files"),
        "LABORSIGN_SIGNING_CA_DIR": str(var / "ca"),
        "LABORSIGN_OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
        **{name: value.format(port=port) for name, value in live_server_env.items()},
    }
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "serve", "--no-migrate"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
    server = LiveServer(url, proc, log_path)
    deadline = time.monotonic() + 30
    import urllib.request

    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:  # noqa: S310
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError("server did not start:\n" + log_path.read_text()[-3000:])
        time.sleep(0.1)
    yield server
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()  # reaped, or its Popen warns "still running" in a later test


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        await instance.close()


@pytest.fixture
async def phone(browser) -> AsyncIterator[object]:
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    yield page
    await context.close()


class Shots:
    """Numbered screenshots in the test's output folder, for people to look at."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def __call__(self, page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shot(output_dir: Path) -> Shots:
    for old in output_dir.glob("*.png"):
        old.unlink()
    return Shots(output_dir)
