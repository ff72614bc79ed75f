import asyncio
import os
import time
from collections.abc import Iterator

import pytest

from core import cpu
from core.config import load_config


@pytest.fixture
def pool_settings() -> Iterator[None]:
    yield
    cpu.configure(workers=0, nice=cpu.DEFAULT_NICE)
    cpu.shutdown()
    cpu.shutdown_verification()


def _niceness() -> int:
    return os.nice(0)


async def test_pool_workers_run_below_the_servers_priority(pool_settings: None) -> None:
    cpu.configure(workers=1, nice=5)
    assert await cpu.run_cpu(_niceness) == min(19, os.nice(0) + 5)


async def test_nice_zero_keeps_the_pool_at_the_servers_priority(pool_settings: None) -> None:
    cpu.configure(workers=1, nice=0)
    assert await cpu.run_cpu(_niceness) == os.nice(0)


async def test_new_settings_replace_a_running_pool(pool_settings: None) -> None:
    cpu.configure(workers=1, nice=0)
    await cpu.run_cpu(_niceness)
    cpu.configure(workers=1, nice=3)
    assert await cpu.run_cpu(_niceness) == min(19, os.nice(0) + 3)


def test_shipped_config_matches_the_pool_defaults() -> None:
    shipped = load_config(env={}).cpu
    assert (shipped.pool_workers, shipped.pool_nice) == (0, cpu.DEFAULT_NICE)


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


async def _verify(seconds: float, *, budget: float = 30, queue_wait: float = 10) -> float:
    return await cpu.run_verification(_sleep, seconds, workers=1, budget=budget,
                                      queue_wait=queue_wait)


async def test_a_slow_verification_does_not_delay_signing_work(pool_settings: None) -> None:
    cpu.configure(workers=1, nice=0)  # one signing worker: the tightest case
    await asyncio.gather(cpu.run_cpu(_niceness), _verify(0))  # both pools started
    slow = asyncio.ensure_future(_verify(3))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await cpu.run_cpu(_niceness)
    assert time.monotonic() - started < 1.0 and not slow.done()
    assert await slow == 3


async def test_verification_workers_run_below_the_signing_workers(pool_settings: None) -> None:
    cpu.configure(workers=1, nice=5)
    niceness = await cpu.run_verification(_niceness, workers=1, budget=30, queue_wait=10)
    assert niceness == min(19, os.nice(0) + 5 + cpu.VERIFY_EXTRA_NICE)


async def test_a_verification_past_its_budget_is_killed(pool_settings: None) -> None:
    await _verify(0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await _verify(60, budget=0.5)
    assert time.monotonic() - started < 5
    assert await _verify(0) == 0  # a fresh worker takes the next one


async def test_a_verification_waiting_too_long_for_a_worker_is_busy(pool_settings: None) -> None:
    await _verify(0)
    slow = asyncio.ensure_future(_verify(2))
    await asyncio.sleep(0.3)
    with pytest.raises(cpu.Busy):
        await _verify(0, queue_wait=0.2)
    assert await slow == 2
