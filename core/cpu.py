"""CPU-bound work (PDF signing and rendering, image drawing, Excel parsing) off the event loop.

A process pool, not threads: pyHanko and Pillow hold the GIL for much of their work, so
threads would still stall every other request in the process. Functions sent here must
be module-level and take/return picklable values (bytes, dataclasses).

The workers run at a lower CPU priority (`nice`) than the server. On a small machine a
burst of signatures keeps every core busy; at equal priority the event loop then gets
only its fair share of a core and every request (even /healthz) waits behind the
signing. Niced workers still use all idle CPU, so signing throughput is unchanged when
the server has nothing else to do (docs/benchmarks.md, "Signing under load").
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

# Defaults match [cpu] in config.toml; `laborsign serve` applies the configured values.
DEFAULT_NICE = 10
_workers = 0  # 0: one per core, at most 4
_nice = DEFAULT_NICE

_pool: ProcessPoolExecutor | None = None


def configure(*, workers: int, nice: int) -> None:
    """Pool size (0: automatic) and the workers' nice increment (0: server's priority)."""
    global _workers, _nice
    if (workers, nice) != (_workers, _nice):
        shutdown()  # the next run_cpu starts a pool with the new settings
        _workers, _nice = max(0, workers), max(0, nice)


def worker_count() -> int:
    return _workers or max(1, min(4, os.cpu_count() or 1))


def _lower_priority(increment: int) -> None:
    """Pool initializer: runs once in each worker process as it starts."""
    if increment:
        # Only ever lowers the priority, which needs no privilege; never fatal.
        with contextlib.suppress(OSError):
            os.nice(increment)


def pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn, not fork: forking a process that runs an event loop and DB pools is unsafe.
        _pool = ProcessPoolExecutor(
            worker_count(),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_lower_priority,
            initargs=(_nice,),
        )
    return _pool


async def run_cpu(fn: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(pool(), fn, *args)
    except BrokenProcessPool:
        # A worker died (killed, out of memory): start a fresh pool and try once more.
        shutdown()
        return await loop.run_in_executor(pool(), fn, *args)


def shutdown() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
