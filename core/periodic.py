"""Periodic work that runs once across all processes.

Every process that runs jobs (web processes in the embedded default, `laborsign
worker` processes at scale) runs a scheduler loop, but a task runs only in the process
that moves its `next_run_at` forward: an UPDATE … WHERE next_run_at <= now is a
compare-and-set both databases perform atomically, so exactly one process wins each
period, whatever the number of processes or machines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.context import Deps
from storage.models import PeriodicRun

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every: timedelta
    run: Callable[[Deps], Awaitable[object]]


async def claim(deps: Deps, task: PeriodicTask, now: datetime) -> bool:
    """True when this process won the task's current period (and must run it)."""
    async with deps.db.transaction() as tx:
        dialect = tx.session.bind.dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        await tx.session.execute(
            insert(PeriodicRun).values(name=task.name, next_run_at=now, runs=0)
            .on_conflict_do_nothing(index_elements=["name"]))
        won = await tx.session.execute(
            update(PeriodicRun)
            .where(PeriodicRun.name == task.name, PeriodicRun.next_run_at <= now)
            .values(next_run_at=now + task.every, last_run_at=now, runs=PeriodicRun.runs + 1)
        )
        return (won.rowcount or 0) == 1


async def _record_error(deps: Deps, task: PeriodicTask, error: str | None) -> None:
    async with deps.db.transaction() as tx:
        await tx.session.execute(
            update(PeriodicRun).where(PeriodicRun.name == task.name).values(last_error=error))


async def run_due(deps: Deps, tasks: tuple[PeriodicTask, ...]) -> list[str]:
    """Run every task whose period this process wins now; the names that ran."""
    ran = []
    for task in tasks:
        if not await claim(deps, task, deps.clock.now()):
            continue
        ran.append(task.name)
        try:
            result = await task.run(deps)
            if result:
                log.info("periodic task", extra={"task": task.name, "result": str(result)})
            await _record_error(deps, task, None)
        except Exception as exc:
            log.exception("periodic task failed", extra={"task": task.name})
            await _record_error(deps, task, f"{type(exc).__name__}: {exc}"[:2000])
    return ran


async def run_forever(deps: Deps, tasks: tuple[PeriodicTask, ...],
                      tick_seconds: float = 5.0) -> None:
    while True:
        try:
            await run_due(deps, tasks)
        except Exception:
            log.exception("periodic scheduler round failed")
        await asyncio.sleep(tick_seconds)


async def next_runs(deps: Deps) -> dict[str, PeriodicRun]:
    async with deps.db.sessions() as session:
        return {r.name: r for r in (await session.execute(select(PeriodicRun))).scalars()}
