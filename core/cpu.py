"""CPU-bound work (PDF signing and rendering, image drawing, Excel parsing) off the event loop.

A process pool, not threads: pyHanko and Pillow hold the GIL for much of their work, so
threads would still stall every other request in the process. Functions sent here must
be module-level and take/return picklable values (bytes, dataclasses).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

_pool: ProcessPoolExecutor | None = None


def pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        workers = max(1, min(4, os.cpu_count() or 1))
        # spawn, not fork: forking a process that runs an event loop and DB pools is unsafe.
        _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
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
