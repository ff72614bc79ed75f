"""WeChat webhook load benchmark.

Starts `laborsign serve` on a free port with a fresh SQLite database (or the database in
LABORSIGN_DATABASE_URL), sends 2,000 mixed signed webhook messages, 50 at a time — text
keywords, unknown text, follows, menu clicks, safe-mode (AES) messages and WeChat-style
retries of earlier MsgIds — and prints p50/p99 latency and errors (--write puts them in
docs/benchmarks.md). For PostgreSQL, point LABORSIGN_DATABASE_URL at an empty database:
earlier runs' MsgIds would otherwise count as retries.

    .venv/bin/python bench/wechat_webhook.py [--total 2000] [--concurrency 50]
                                              [--workers 1] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
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

from core.wechat_protocol import (  # noqa: E402
    DEV_AES_KEY,
    DEV_APP_ID,
    DEV_TOKEN,
    encrypt,
    render_xml,
    signature,
)

TEXTS = ["帮助", "合同", "签合同", "实名认证", "签名", "今天天气不错", "怎么用"]
MENU = ["MENU_MY_CONTRACTS", "MENU_TO_SIGN", "MENU_IDENTITY", "MENU_SIGNATURE", "MENU_HELP"]
SECTION = "## WeChat webhook"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_requests(total: int, rng: random.Random) -> list[tuple[dict[str, str], bytes, str]]:
    """(query, body, kind) for each request; ~5 % are retries of an earlier message."""
    out: list[tuple[dict[str, str], bytes, str]] = []
    now = int(time.time())
    for i in range(total):
        if out and rng.random() < 0.05:
            out.append((*out[rng.randrange(len(out))][:2], "retry"))
            continue
        openid = f"o_bench_{rng.randrange(300):03d}"
        base: dict[str, str | int] = {"ToUserName": "gh_bench", "FromUserName": openid,
                                      "CreateTime": now + i}
        roll = rng.random()
        if roll < 0.55:
            fields = {**base, "MsgType": "text", "Content": rng.choice(TEXTS), "MsgId": 10**9 + i}
            kind = "text"
        elif roll < 0.70:
            fields = {**base, "MsgType": "event", "Event": "subscribe", "EventKey": ""}
            kind = "subscribe"
        else:
            fields = {**base, "MsgType": "event", "Event": "CLICK", "EventKey": rng.choice(MENU)}
            kind = "click"
        xml = render_xml(fields)
        ts, nonce = str(now), str(rng.randrange(10**9))
        query = {"timestamp": ts, "nonce": nonce, "signature": signature(DEV_TOKEN, ts, nonce)}
        if rng.random() < 0.2:
            cipher = encrypt(xml, DEV_AES_KEY, DEV_APP_ID)
            query.update(encrypt_type="aes", msg_signature=signature(DEV_TOKEN, ts, nonce, cipher))
            xml = render_xml({"ToUserName": "gh_bench", "Encrypt": cipher})
            kind += "+aes"
        out.append((query, xml.encode(), kind))
    return out


async def run_load(url: str, requests: list[tuple[dict[str, str], bytes, str]],
                   concurrency: int) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=10)) as http:
        async def one(query: dict[str, str], body: bytes, kind: str) -> None:
            async with gate:
                started = time.perf_counter()
                try:
                    async with http.post(url, params=query, data=body) as resp:
                        text = await resp.text()
                        ok = resp.status == 200 and (text == "success" or text.startswith("<xml>"))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    ok, text = False, repr(exc)
                latencies.append((time.perf_counter() - started) * 1000)
                if not ok:
                    errors.append(f"{kind}: {text[:120]}")

        await asyncio.gather(*(one(*r) for r in requests))
    return latencies, errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


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
    p.add_argument("--total", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--workers", type=int, default=1, help="server processes (PostgreSQL for >1)")
    p.add_argument("--write", action="store_true",
                   help="replace the WeChat section of docs/benchmarks.md with this run")
    args = p.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LABORSIGN_SERVER_PORT": str(port), "LABORSIGN_SERVER_VAR_DIR": tmp,
               "LABORSIGN_SERVER_DEV_MODE": "true", "LABORSIGN_WECHAT_TOKEN": "",
               "LABORSIGN_WECHAT_APP_ID": "", "LABORSIGN_WECHAT_ENCODING_AES_KEY": ""}
        env.setdefault("LABORSIGN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp}/bench.db")
        server = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "serve", "--port", str(port),
             "--workers", str(args.workers)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # --workers N: stop the whole group at the end
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(150):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.1)
            requests = build_requests(args.total, random.Random(5))
            asyncio.run(run_load(f"{base}/wechat", requests[:50], 10))  # warm-up
            started = time.perf_counter()
            latencies, errors = asyncio.run(
                run_load(f"{base}/wechat", requests, args.concurrency)
            )
            wall = time.perf_counter() - started
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=10)
    db = "PostgreSQL" if "postgresql" in env["LABORSIGN_DATABASE_URL"] else "SQLite"
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    report = (
        f"{SECTION}\n\n"
        f"`bench/wechat_webhook.py`: {args.total} mixed webhook requests (55 % text keywords "
        f"and unknown text, 15 % follows, 30 % menu clicks; 20 % in safe mode (AES); ~5 % "
        f"retries of an earlier message), {args.concurrency} concurrent, against `laborsign "
        f"serve` ({args.workers} worker{'s' if args.workers > 1 else ''}, {db}) on a free "
        f"port, {os.cpu_count()} CPU cores.\n\n"
        f"| requests | concurrency | p50 ms | p99 ms | max ms | mean ms | req/s | errors |\n"
        f"|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {len(latencies)} | {args.concurrency} | {p50:.1f} | {p99:.1f} | "
        f"{max(latencies):.1f} | {statistics.mean(latencies):.1f} | "
        f"{len(latencies) / wall:.0f} | {len(errors)} |\n\n"
        f"Target: p99 < 50 ms, no errors, nothing near WeChat's 5-second limit.\n"
    )
    print(report)
    for e in errors[:10]:
        print("error:", e)
    if args.write:
        write_section(report)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
