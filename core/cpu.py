"""CPU-bound work (PDF signing and rendering, image drawing, Excel parsing) off the event loop.

A process pool, not threads: pyHanko and Pillow hold the GIL for much of their work, so
threads would still stall every other request in the process. Functions sent here must
be module-level and take/return picklable values (bytes, dataclasses).

The workers run at a lower CPU priority (`nice`) than the server. On a small machine a
burst of signatures keeps every core busy; at equal priority the event loop then gets
only its fair share of a core and every request (even /healthz) waits behind the
signing. Niced workers still use all idle CPU, so signing throughput is unchanged when
the server has nothing else to do (docs/benchmarks.md, "Signing under load").

Verifying uploaded PDFs (anonymous, possibly hostile files) runs in a small pool of its
own (`run_verification`), still lower in priority: a slow verification never holds a
worker that signing or page rendering is waiting for, and one that overruns its budget is
killed with its process.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import weakref
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

# Verification workers run this much further below the server than the main pool's.
VERIFY_EXTRA_NICE = 5
_verify_pool: ProcessPoolExecutor | None = None
_verify_size = 0
# One semaphore per event loop (a semaphore belongs to the loop it first waits on).
_verify_slots: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, tuple[int, asyncio.Semaphore]
] = weakref.WeakKeyDictionary()


class Busy(Exception):
    """No verification worker came free within the allowed wait."""


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


def verification_pool(workers: int) -> ProcessPoolExecutor:
    global _verify_pool, _verify_size
    workers = max(1, workers)
    if _verify_pool is not None and _verify_size != workers:
        shutdown_verification()
    if _verify_pool is None:
        _verify_pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_lower_priority,
            initargs=(_nice + VERIFY_EXTRA_NICE if _nice else 0,),
        )
        _verify_size = workers
    return _verify_pool


def _slots(workers: int) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    workers = max(1, workers)
    found = _verify_slots.get(loop)
    if found is None or found[0] != workers:
        found = _verify_slots[loop] = (workers, asyncio.Semaphore(workers))
    return found[1]


async def run_verification(
    fn: Callable[..., T], *args: Any, workers: int, budget: float, queue_wait: float
) -> T:
    """Run `fn` in the verification pool: at most `workers` at once, each for at most
    `budget` seconds (then its worker is killed and TimeoutError raised). Raises Busy
    when no worker comes free within `queue_wait` seconds."""
    slots = _slots(workers)
    try:
        await asyncio.wait_for(slots.acquire(), queue_wait)
    except TimeoutError:
        raise Busy() from None
    try:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(verification_pool(workers), fn, *args)
        try:
            return await asyncio.wait_for(future, budget)
        except TimeoutError:
            _kill_verification_workers()
            raise
        except BrokenProcessPool:
            # A worker died (out of memory on a hostile file?): no retry, a fresh pool next.
            shutdown_verification()
            raise
    finally:
        slots.release()


def _kill_verification_workers() -> None:
    """A worker past its budget cannot be interrupted: end its process, start afresh."""
    pool = _verify_pool
    if pool is None:
        return
    processes = list(getattr(pool, "_processes", None) or {})
    for pid in processes:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    shutdown_verification()


def shutdown_verification() -> None:
    global _verify_pool, _verify_size
    if _verify_pool is not None:
        _verify_pool.shutdown(wait=False, cancel_futures=True)
        _verify_pool, _verify_size = None, 0


def stop_all(timeout: float = 5.0) -> None:
    """End both pools' processes before this process exits. Left to the interpreter's exit
    hooks, an idle spawned worker is joined without being told to stop, and a server told
    to stop (SIGTERM) then never exits. Busy work is abandoned: the job system retries it."""
    global _pool
    pools = [p for p in (_pool, _verify_pool) if p is not None]
    # ProcessPoolExecutor has no public way to end its workers before Python 3.14.
    processes = [proc for p in pools for proc in (getattr(p, "_processes", None) or {}).values()]
    shutdown()
    shutdown_verification()
    for proc in processes:
        with contextlib.suppress(OSError, ValueError):
            proc.terminate()
    for proc in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout)
