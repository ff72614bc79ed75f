import os
from collections.abc import Iterator

import pytest

from core import cpu
from core.config import load_config


@pytest.fixture
def pool_settings() -> Iterator[None]:
    yield
    cpu.configure(workers=0, nice=cpu.DEFAULT_NICE)
    cpu.shutdown()


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
