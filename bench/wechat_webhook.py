"""WeChat webhook load benchmark.

Starts `laborsign serve` on a free port with a fresh SQLite database (or the database in
LABORSIGN_DATABASE_URL), sends 2,000 mixed signed webhook messages, 50 at a time — text
keywords, unknown text, follows, menu clicks, safe-mode (AES) messages and WeChat-style
retries of earlier MsgIds — and prints p50/p99 latency and errors (--write puts them in
docs/benchmarks.md). The 2,000 follow --warmup requests on the same keep-alive
connections, so every measured message is sent while 49 others are in flight; the cold
start (the first 50 messages, sent at once to a server that has just started) is
reported on its own as "first wave". For PostgreSQL, point LABORSIGN_DATABASE_URL at an
empty database: earlier runs' MsgIds would otherwise count as retries.

    .venv/bin/python bench/wechat_webhook.py [--total 2000] [--concurrency 50]
        [--warmup 200] [--workers 1] [--rounds 3] [--baseline GIT_REF] [--write]

--baseline runs the same load against the server as of an earlier revision (checked out
in a temporary git worktree, same virtualenv), alternating with the current code, so
before and after are measured side by side on the same machine in one run. Server CPU
per request is read from /proc for the server's process group (Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import free_port, group_cpu_seconds, wait_for_port  # noqa: E402
from core.wechat.protocol import (  # noqa: E402
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
                   concurrency: int, warmup: int = 0) -> dict[str, Any]:
    """Send `requests` over one keep-alive session, `concurrency` in flight at any time.

    The first `warmup` requests fill the pipeline and are not measured: measured
    requests all go out while `concurrency` others are in flight, as under sustained
    load. The very first wave (`concurrency` requests sent at once to a server that
    has just started) is reported on its own as `ramp`.
    """
    latencies: list[float] = []
    ramp: list[float] = []
    errors: list[str] = []
    window: list[float] = []  # start of the first measured request, end of the last
    queue = iter(enumerate(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=10)) as http:
        async def sender() -> None:
            for i, (query, body, kind) in queue:
                started = time.perf_counter()
                if i == warmup:
                    window.append(started)
                try:
                    async with http.post(url, params=query, data=body) as resp:
                        text = await resp.text()
                        ok = resp.status == 200 and (text == "success" or text.startswith("<xml>"))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    ok, text = False, repr(exc)
                ms = (time.perf_counter() - started) * 1000
                if i >= warmup:
                    latencies.append(ms)
                elif i < concurrency:
                    ramp.append(ms)
                if not ok:
                    errors.append(f"{kind}: {text[:120]}")

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    wall = time.perf_counter() - window[0] if window else 0.0
    return {"latencies": latencies, "ramp": ramp, "errors": errors,
            "rps": len(latencies) / wall if wall else 0.0}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def write_section(text: str) -> None:
    """Replace the section in docs/benchmarks.md where it stands (or append it)."""
    path = ROOT / "docs" / "benchmarks.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION + "\n" not in current:
        path.write_text(current.rstrip() + "\n\n" + text.rstrip() + "\n")
        return
    start = current.index(SECTION + "\n")
    nxt = current.find("\n## ", start + len(SECTION))
    rest = current[nxt + 1:] if nxt >= 0 else ""
    path.write_text(current[:start] + text.rstrip() + "\n" + ("\n" + rest if rest else ""))


def measure(tree: Path, args: argparse.Namespace, requests: list[Any]) -> dict[str, Any]:
    """Start `laborsign serve` from `tree` on a free port and a fresh database, send the
    load, stop the server."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LABORSIGN_SERVER_PORT": str(port), "LABORSIGN_SERVER_VAR_DIR": tmp,
               "LABORSIGN_SERVER_DEV_MODE": "true", "LABORSIGN_WECHAT_TOKEN": "",
               "LABORSIGN_WECHAT_APP_ID": "", "LABORSIGN_WECHAT_ENCODING_AES_KEY": ""}
        env.setdefault("LABORSIGN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp}/bench.db")
        server = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "serve", "--port", str(port),
             "--workers", str(args.workers)],
            cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # --workers N: stop the whole group at the end
        )
        try:
            wait_for_port(port)
            url = f"http://127.0.0.1:{port}/wechat"
            cpu_before = group_cpu_seconds(server.pid)
            load = asyncio.run(run_load(url, requests, args.concurrency, args.warmup))
            cpu_after = group_cpu_seconds(server.pid)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=10)
    latencies, ramp = load["latencies"], load["ramp"]
    # CPU over warm-up and measured requests alike, per request sent
    cpu = (None if cpu_before is None or cpu_after is None
           else (cpu_after - cpu_before) / len(requests) * 1000)
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "max": max(latencies), "rps": load["rps"], "errors": load["errors"],
            "cpu_ms": cpu, "n": len(latencies), "ramp_max": max(ramp) if ramp else 0.0}


def _row(label: str, r: dict[str, Any]) -> str:
    cpu = "–" if r["cpu_ms"] is None else f"{r['cpu_ms']:.2f}"
    return (f"| {label} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | {r['rps']:.0f} | "
            f"{cpu} | {r['ramp_max']:.1f} | {len(r['errors'])} |")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--total", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--warmup", type=int, default=200,
                   help="requests sent first, on the same connections, and not measured")
    p.add_argument("--workers", type=int, default=1, help="server processes (PostgreSQL for >1)")
    p.add_argument("--rounds", type=int, default=1, help="runs of each code version")
    p.add_argument("--baseline", metavar="GIT_REF",
                   help="also run the server as of this revision (a temporary git worktree), "
                        "alternating with the current code")
    p.add_argument("--write", action="store_true",
                   help="replace the WeChat section of docs/benchmarks.md with this run")
    args = p.parse_args()
    requests = build_requests(args.warmup + args.total, random.Random(5))
    trees: list[tuple[str, Path]] = [("current", ROOT)]
    with contextlib.ExitStack() as stack:
        if args.baseline:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tmp / "tree"),
                            args.baseline], cwd=ROOT, check=True)
            stack.callback(subprocess.run, ["git", "worktree", "remove", "--force",
                                            str(tmp / "tree")], cwd=ROOT, check=False)
            trees.insert(0, (f"baseline `{args.baseline}`", tmp / "tree"))
        results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in trees}
        for _ in range(args.rounds):
            for label, tree in trees:
                r = measure(tree, args, requests)
                results[label].append(r)
                print(_row(label, r), flush=True)
    db = "PostgreSQL" if "postgresql" in os.environ.get("LABORSIGN_DATABASE_URL", "") else "SQLite"
    lines = [
        f"{SECTION}\n",
        f"`bench/wechat_webhook.py`: {args.total} mixed webhook requests (55 % text keywords "
        f"and unknown text, 15 % follows, 30 % menu clicks; 20 % in safe mode (AES); ~5 % "
        f"retries of an earlier message), {args.concurrency} concurrent after {args.warmup} "
        f"unmeasured warm-up requests on the same connections, against `laborsign "
        f"serve` ({args.workers} worker{'s' if args.workers > 1 else ''}, {db}) on a free "
        f"port, {os.cpu_count()} CPU cores; {args.rounds} round(s), versions alternating.\n",
        "| code | p50 ms | p99 ms | max ms | req/s | server CPU ms/request | first wave max ms "
        "| errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, runs in results.items():
        lines += [_row(label, r) for r in runs]
    lines.append("")
    for label, runs in results.items():
        p99s = sorted(r["p99"] for r in runs)
        lines.append(f"- {label}: median p99 {statistics.median(p99s):.1f} ms "
                     f"(range {p99s[0]:.1f}–{p99s[-1]:.1f}), errors "
                     f"{sum(len(r['errors']) for r in runs)}")
    lines.append("\nTarget: p99 < 50 ms, no errors, nothing near WeChat's 5-second limit.")
    report = "\n".join(lines)
    print(report)
    for runs in results.values():
        for r in runs:
            for e in r["errors"][:10]:
                print("error:", e)
    if args.write:
        write_section(report)
    return 0 if not any(r["errors"] for runs in results.values() for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
