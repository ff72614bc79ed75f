"""The `laborsign` command: serve, migrate, demo, audit checks."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web

from core import cpu
from core.config import Config, ConfigError, ensure_secrets, listen_url, load_config
from handlers.logs import setup_logging
from storage import migrate as migrations

log = logging.getLogger("laborsign.cli")

Command = Callable[[Config, argparse.Namespace], int]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn

    return register


def first_run_banner(config: Config, workers: int, listen: dict[str, object] | None = None
                     ) -> str:
    """What a person starting the server needs: where to open it, the dev inbox, how to stop.

    `listen`: the --host/--port given; the demo command is then shown with the same
    address, so the links it prints point at this server too.
    """
    base = config.server.base_url.rstrip("/")
    lines = [f"LaborSign is running: open {base}/ (a phone-sized browser window)"]
    if config.server.dev_mode:
        env = "".join(f"LABORSIGN_SERVER_{key.upper()}={value} "
                      for key, value in (listen or {}).items())
        lines += [
            f"  SMS codes (dev inbox): {base}/dev/sms",
            f"  demo accounts:         {env}.venv/bin/laborsign demo  (in another terminal)",
        ]
    listening = listen_url(config.server.host, config.server.port)
    if listening != base:
        lines.append(f"  listening on:          {listening}")
    if workers > 1:
        lines.append(f"  workers:               {workers}")
    lines.append("  stop:                  Ctrl+C")
    return "\n".join(lines)


def _serve_one(config: Config, reuse_port: bool, banner: str | None = None) -> None:
    from handlers.app import init_app

    setup_logging()
    cpu.configure(workers=config.cpu.pool_workers, nice=config.cpu.pool_nice)
    app = init_app(config)
    # What exists now (modules, mappers, templates) lives as long as the process. Frozen,
    # it is no longer rescanned by every full collection, each of which stopped the event
    # loop for 100-180 ms (docs/benchmarks.md, "Signing under load").
    gc.collect()
    gc.freeze()
    try:
        _run_app(app, config, reuse_port, banner)
    finally:
        cpu.stop_all()


def _run_app(app: web.Application, config: Config, reuse_port: bool,
             banner: str | None) -> None:
    web.run_app(
        app,
        host=config.server.host,
        port=config.server.port,
        reuse_port=reuse_port,
        access_log=None,
        # Said once the socket is bound, so a port already in use never reads as running.
        print=(lambda _line: print(banner, flush=True)) if banner else None,
        # aiohttp's default, stated because the webhook relies on it: a handler goes on
        # when its client hangs up (a late WeChat answer still goes out, bot/webhook.py).
        handler_cancellation=False,
        loop=_event_loop(config.server.event_loop),
    )


def _event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS): the same code, a cheaper event loop,
    which is much of a small request's cost; the standard loop elsewhere or on request."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            return asyncio.new_event_loop()
        return uvloop.new_event_loop()
    if kind != "asyncio":
        raise SystemExit(f"[server] event_loop must be uvloop or asyncio, not {kind!r}")
    return asyncio.new_event_loop()


def _dev_exposure(config: Config, allowed_by_flag: bool) -> str | None:
    """Why serving must not start: dev mode (codes and captcha answers on /dev/) on a
    network address, unless explicitly allowed. None when it may start."""
    from handlers.util import is_loopback_address

    server = config.server
    if not server.dev_mode or is_loopback_address(server.host):
        return None
    if allowed_by_flag or server.allow_dev_on_network:
        log.warning("dev mode on a network address", extra={"host": server.host})
        print(f"warning: dev mode on {server.host}: dev pages still answer loopback "
              "clients only, but this is not a production setup", file=sys.stderr)
        return None
    return (
        f"refused: dev mode is on and --host {server.host} is not a loopback address.\n"
        "Dev mode serves every SMS code and captcha answer on /dev/. Bind to 127.0.0.1, "
        "turn dev mode off ([server] dev_mode = false), or, on a network you trust, pass "
        "--allow-dev-on-network (or set [server] allow_dev_on_network = true)."
    )


@command("serve")
def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    listen = {key: value for key, value in (("host", args.host), ("port", args.port))
              if value not in (None, "")}
    if listen:
        # Loaded again with the options as the last layer: an unset base_url then follows
        # the address really listened on (core.config.load_config).
        config = load_config(args.config, overrides={"server": listen})
    workers = args.workers or config.server.workers
    refusal = _dev_exposure(config, args.allow_dev_on_network)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    config = ensure_secrets(config)
    if not args.no_migrate:
        migrations.upgrade(config.database.url)
    banner = first_run_banner(config, workers, listen)
    if workers <= 1:
        try:
            _serve_one(config, reuse_port=False, banner=banner)
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                raise
            print(f"cannot listen on {config.server.host}:{config.server.port}: "
                  f"{exc.strerror or exc} (another port: --port 8611)", file=sys.stderr)
            return 1
        return 0
    print(banner, flush=True)
    procs = [
        multiprocessing.Process(target=_serve_one, args=(config, True), daemon=False)
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    return _supervise(procs)


def _supervise(procs: list[multiprocessing.Process], grace: float = 30.0) -> int:
    """Wait until told to stop (SIGTERM, Ctrl+C) or until a server process ends, then stop
    them all: a service manager that signals only this process must not leave servers
    behind, and one that died takes the others down so the manager restarts the lot."""
    import signal
    import threading
    import time

    stop = threading.Event()
    # Installed after the fork: the servers keep aiohttp's own handlers.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set() and all(proc.is_alive() for proc in procs):
        stop.wait(0.5)
    died = [proc.pid for proc in procs if not proc.is_alive()]
    if died and not stop.is_set():
        log.error("a server process ended: stopping the others", extra={"pids": died})
    for proc in procs:
        if proc.is_alive():
            proc.terminate()  # aiohttp's graceful stop in that process
    deadline = time.monotonic() + grace
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    return 0 if stop.is_set() else 1


@command("worker")
def cmd_worker(config: Config, args: argparse.Namespace) -> int:
    """Run jobs and periodic tasks without serving pages (set [outbox] run_in_web =
    false on the web processes then). Stops on SIGTERM or Ctrl+C."""
    import signal

    from core.outbox import OutboxWorker
    from handlers.app import build_deps, deliverers, running_jobs

    setup_logging()
    cpu.configure(workers=config.cpu.pool_workers, nice=config.cpu.pool_nice)
    config = ensure_secrets(config)

    async def run() -> None:
        deps = build_deps(config)
        worker = OutboxWorker(deps, deliverers())
        deps.outbox_wakeup = worker.wakeups
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with running_jobs(deps, worker):
                log.info("worker running")
                await stop.wait()
        finally:
            await deps.db.dispose()

    try:
        asyncio.run(run())
    finally:
        cpu.stop_all()
    return 0


@command("migrate")
def cmd_migrate(config: Config, args: argparse.Namespace) -> int:
    if args.downgrade:
        migrations.downgrade(config.database.url, args.downgrade)
    else:
        migrations.upgrade(config.database.url, args.revision)
    print(f"database at {args.downgrade or args.revision}")
    return 0


@command("demo")
def cmd_demo(config: Config, args: argparse.Namespace) -> int:
    from core.demo import seed_demo
    from handlers.app import build_deps, deliverers

    migrations.upgrade(config.database.url)

    async def run() -> list[str]:
        deps = build_deps(config)
        try:
            return await seed_demo(deps, deliverers())
        finally:
            await deps.db.dispose()

    for line in asyncio.run(run()):
        print(line)
    return 0


@command("audit-verify")
def cmd_audit_verify(config: Config, args: argparse.Namespace) -> int:
    from core.audit import verify_chain
    from handlers.app import build_deps

    async def run() -> int:
        deps = build_deps(config)
        try:
            report = await verify_chain(deps.db)
        finally:
            await deps.db.dispose()
        if report.ok:
            print(f"audit chain intact: {report.entries} entries in {report.chains} chains")
            return 0
        chain = f"enterprise {report.chain}" if report.chain else "platform"
        print(f"audit chain BROKEN at entry {report.first_bad_seq} of the {chain} chain: "
              f"{report.reason}")
        return 1

    return asyncio.run(run())


@command("wechat")
def cmd_wechat(config: Config, args: argparse.Namespace) -> int:
    import json

    from core.wechat.menu import push_menu
    from handlers.app import build_deps

    async def run() -> dict[str, object]:
        deps = build_deps(config)
        try:
            return await push_menu(deps)
        finally:
            await deps.db.dispose()

    try:
        menu = asyncio.run(run())
    except Exception as exc:  # a CLI reports, it does not trace back
        print(f"menu push failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(menu, ensure_ascii=False, indent=2))
    print(f"menu pushed ({config.wechat.client} client)")
    return 0


@command("operator")
def cmd_operator(config: Config, args: argparse.Namespace) -> int:
    from core.enterprise.operators import create_operator
    from core.errors import DomainError
    from handlers.app import build_deps

    migrations.upgrade(config.database.url)

    async def run() -> str:
        deps = build_deps(config)
        try:
            return await create_operator(deps, args.phone)
        finally:
            await deps.db.dispose()

    try:
        user_id = asyncio.run(run())
    except DomainError as err:
        print(f"refused: {err.message}", file=sys.stderr)
        return 1
    print(f"platform operator: user {user_id} (console at /operator)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="laborsign", description="LaborSign electronic contracts")
    p.add_argument("--config", type=Path, help="config file (default: config.toml)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the web server (migrates the database first)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--workers", type=int, help="worker processes (PostgreSQL for >1)")
    s.add_argument("--no-migrate", action="store_true")
    s.add_argument("--allow-dev-on-network", action="store_true",
                   help="serve a non-loopback host even in dev mode")
    sub.add_parser("worker", help="run jobs and periodic tasks beside the web processes")
    m = sub.add_parser("migrate", help="upgrade (or downgrade) the database schema")
    m.add_argument("--revision", default="head")
    m.add_argument("--downgrade", metavar="REV")
    sub.add_parser("demo", help="seed demo users (and later: enterprise, signed sample)")
    sub.add_parser("audit-verify", help="check the audit log's hash chains")
    w = sub.add_parser("wechat", help="WeChat official account tasks")
    w.add_argument("wechat_action", choices=["menu"], help="menu: push [wechat] menu_json")
    o = sub.add_parser("operator", help="platform operators (review letters and appeals)")
    o.add_argument("operator_action", choices=["create"], help="create: make a user an operator")
    o.add_argument("phone", help="the phone number of a registered user")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except (ConfigError, OSError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](config, args)


if __name__ == "__main__":
    sys.exit(main())
