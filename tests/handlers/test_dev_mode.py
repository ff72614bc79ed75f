"""Dev mode stays on this machine: /dev/ answers loopback browsers only, and
`laborsign serve` refuses a network address in dev mode unless told otherwise."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from core.config import Config
from core.context import Deps
from handlers.app import init_app

REPO = Path(__file__).resolve().parents[2]
DEV_URLS = ("/dev/api/sms", "/dev/sms", "/dev/api/captcha/x", "/dev/wechat", "/dev/payments")


def non_loopback_address() -> str | None:
    """This machine's own address on its default interface (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = sock.getsockname()[0]
    ip = ipaddress.ip_address(address)
    return None if ip.is_loopback or ip.is_unspecified else address


async def test_loopback_browser_gets_the_dev_inbox(client) -> None:
    resp = await client.get("/dev/api/sms")
    assert resp.status == 200
    assert "messages" in await resp.json()


async def test_the_dev_inbox_shows_a_link_in_a_message_as_a_link(
        client, deps: Deps, outbox) -> None:
    from core.sms import queue_sms

    link = "http://127.0.0.1:8611/contracts/abc"
    async with deps.db.transaction() as tx:
        await queue_sms(tx, deps, "13712349999", "notice",
                        {"text": f"请点击链接查看并签署：{link}"})
    await outbox.drain()
    html = await (await client.get("/dev/sms?phone=13712349999")).text()
    tag = f'<a href="{link}" target="_blank" rel="noopener">{link}</a>'
    assert f"请点击链接查看并签署：{tag}" in html


async def test_a_browser_on_another_machine_gets_404(deps: Deps, config: Config) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    server = TestServer(init_app(config, deps=deps, run_workers=False), host=address)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            # Connected to the network address, the peer is that address, not 127.0.0.1.
            async with http.get(f"http://{address}:{server.port}/login") as page:
                assert page.status == 200
            for path in DEV_URLS:
                async with http.get(f"http://{address}:{server.port}{path}") as resp:
                    assert resp.status == 404, path
                    assert "SMS" not in await resp.text()
    finally:
        await server.close()


async def test_a_local_proxy_speaking_for_someone_else_gets_404(client) -> None:
    # The peer is loopback, but it forwards another client: not this machine's browser.
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        resp = await client.get("/dev/api/sms", headers={header: "203.0.113.7"})
        assert resp.status == 404, header


async def test_forwarded_for_counts_only_from_a_trusted_proxy(aiohttp_client, deps: Deps,
                                                              config: Config) -> None:
    trusted = config.replace(server={"trusted_proxies": "127.0.0.1"})
    app = init_app(trusted, deps=dataclasses.replace(deps, config=trusted), run_workers=False)
    client = await aiohttp_client(app)
    remote = await client.get("/dev/api/sms", headers={"X-Forwarded-For": "203.0.113.7"})
    local = await client.get("/dev/api/sms", headers={"X-Forwarded-For": "127.0.0.1"})
    assert (remote.status, local.status) == (404, 200)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(tmp_path: Path, db_url: str, *args: str, port: int | None = None,
           **env: str) -> subprocess.Popen[str]:
    port = port or _free_port()
    environment = {
        **os.environ,
        "LABORSIGN_DATABASE_URL": db_url,
        "LABORSIGN_SERVER_PORT": str(port),
        "LABORSIGN_SERVER_DEV_MODE": "true",
        "LABORSIGN_SERVER_SECRET_KEY": "cli-test-secret-key",
        "LABORSIGN_SERVER_VAR_DIR": str(tmp_path / "var"),
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "handlers.cli", "serve", "--no-migrate", *args],
        env=environment, cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int | None, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
        return proc.returncode, err
    except subprocess.TimeoutExpired:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        return None, err  # still serving when the time was up


def test_serve_refuses_dev_mode_on_all_interfaces(tmp_path: Path, db_url: str) -> None:
    proc = _serve(tmp_path, db_url, "--host", "0.0.0.0")  # noqa: S104 - refused, never bound
    code, err = _finish(proc, timeout=20)
    assert code == 2
    assert "refused: dev mode is on" in err and "--allow-dev-on-network" in err


def test_serve_refuses_a_network_host_from_the_config_too(tmp_path: Path, db_url: str) -> None:
    proc = _serve(tmp_path, db_url, LABORSIGN_SERVER_HOST="::")
    code, err = _finish(proc, timeout=20)
    assert code == 2 and "refused" in err


def test_serve_on_the_network_when_explicitly_allowed(tmp_path: Path, db_url: str) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    port = _free_port()
    proc = _serve(tmp_path, db_url, "--host", address, "--allow-dev-on-network", port=port)
    # Serving means answering on the address; a loaded machine may take a while to start.
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection((address, port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    code, err = _finish(proc, timeout=0.5)
    assert code is None, err  # it was serving
    assert "warning: dev mode on" in err


async def test_the_dev_inbox_long_poll_answers_when_the_code_arrives(
        client, deps: Deps, outbox, clock) -> None:
    import asyncio

    from core.sms import queue_sms

    phone = "13712348888"
    async with deps.db.transaction() as tx:
        await queue_sms(tx, deps, phone, "notice", {"text": "一", "code": "111111"})
    await outbox.drain()
    first = (await (await client.get(f"/dev/api/sms?phone={phone}&wait=5")).json())["messages"]
    assert [m["code"] for m in first] == ["111111"]  # already there: at once

    # Nothing newer than the one read: the request waits, and answers when one comes.
    waiting = asyncio.ensure_future(
        client.get("/dev/api/sms", params={"phone": phone, "wait": "5", "after": first[0]["id"]}))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    clock.advance(seconds=1)  # newest first: a later message
    async with deps.db.transaction() as tx:
        await queue_sms(tx, deps, phone, "notice", {"text": "二", "code": "222222"})
    await outbox.drain()
    resp = await asyncio.wait_for(waiting, 3)
    assert [m["code"] for m in (await resp.json())["messages"]] == ["222222"]

    # None in time: an empty answer after the wait; a bad wait is a 400.
    empty = await client.get("/dev/api/sms", params={
        "phone": phone, "wait": "0.2", "after": (await _newest_id(client, phone))})
    assert (await empty.json())["messages"] == []
    assert (await client.get(f"/dev/api/sms?phone={phone}&wait=x")).status == 400
    # Only a template's messages: none of them is a code.
    codes = await client.get("/dev/api/sms", params={"phone": phone, "wait": "0",
                                                     "template": "code"})
    assert (await codes.json())["messages"] == []


async def _newest_id(client, phone: str) -> str:
    resp = await client.get("/dev/api/sms", params={"phone": phone})
    return str((await resp.json())["messages"][0]["id"])
