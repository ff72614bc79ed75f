"""Jobs handed to this process's runners at commit (`enqueue(..., direct=True)`: the code
SMS) and the runner loop's rounds: delivered once, crash-safe, nothing lost."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

from sqlalchemy import select

from core import outbox
from core.context import Deps
from core.outbox import CLAIM_SECONDS, OutboxWorker
from core.sms import queue_sms
from handlers.app import deliverers
from storage.models import ConsoleSms, OutboxMessage
from tests.factories import next_phone


async def _row(deps: Deps, job_id: str) -> OutboxMessage:
    async with deps.db.sessions() as s:
        row = await s.get(OutboxMessage, job_id)
        assert row is not None
        return row


async def _direct_job(deps: Deps, kind: str = "test.direct") -> OutboxMessage:
    async with deps.db.transaction() as tx:
        msg = await outbox.enqueue(tx, kind, {"n": 1}, now=deps.clock.now(), queue="codes",
                                   wakeup=deps.outbox_wakeup, direct=True)
    assert msg is not None
    return msg


async def _settle(worker: OutboxWorker) -> None:
    for _ in range(100):
        if not worker._direct_tasks:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("direct deliveries still running")


async def test_a_code_is_delivered_at_commit_without_a_claim(deps: Deps) -> None:
    worker = OutboxWorker(deps, deliverers())
    deps.outbox_wakeup = worker.wakeups
    worker.wakeups.direct = worker.deliver_direct  # as run_forever does
    phone = next_phone()
    async with deps.db.transaction() as tx:
        await queue_sms(tx, deps, phone, "code", {"code": "123456", "minutes": "5"},
                        sensitive=True)
        # Written already claimed by this process: no runner may take it meanwhile.
        row = (await tx.session.execute(select(OutboxMessage))).scalar_one()
        assert (row.status, row.attempts) == ("sending", 1)
        assert row.locked_until is not None
    await _settle(worker)
    async with deps.db.sessions() as s:
        texts = list((await s.execute(
            select(ConsoleSms.text).where(ConsoleSms.phone == phone))).scalars())
    assert len(texts) == 1 and "123456" in texts[0]
    row = await _row(deps, row.id)
    assert (row.status, row.attempts, row.locked_until) == ("sent", 1, None)
    assert row.payload["params"] == "[redacted]"  # no code lingers in the table
    assert await worker.run_once() == 0  # nothing left for a runner


async def test_without_running_runners_a_direct_job_is_queued_as_usual(deps: Deps) -> None:
    worker = OutboxWorker(deps, deliverers())
    deps.outbox_wakeup = worker.wakeups  # built, but run_forever is not running
    msg = await _direct_job(deps)
    row = await _row(deps, msg.id)
    assert (row.status, row.attempts, row.locked_until) == ("queued", 0, None)
    # A rolled-back transaction hands nothing over either.
    worker.wakeups.direct = worker.deliver_direct
    try:
        async with deps.db.transaction() as tx:
            await outbox.enqueue(tx, "test.direct", {"n": 2}, now=deps.clock.now(),
                                 queue="codes", wakeup=deps.outbox_wakeup, direct=True)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert not worker._direct_tasks


async def test_a_direct_job_lost_with_its_process_is_delivered_after_its_lease_once(
        deps: Deps, clock) -> None:
    delivered: list[str] = []

    async def record(d: Deps, msg: OutboxMessage) -> None:
        delivered.append(msg.id)

    worker = OutboxWorker(deps, {"test.direct": record})
    deps.outbox_wakeup = worker.wakeups
    worker.wakeups.direct = lambda msg: None  # the process dies right after the commit
    msg = await _direct_job(deps)
    assert await worker.run_once() == 0  # claimed by the dead process: not yet
    clock.advance(seconds=CLAIM_SECONDS + 1)
    await worker.drain()
    await worker.drain()
    assert delivered == [msg.id]
    row = await _row(deps, msg.id)
    assert (row.status, row.attempts) == ("sent", 2)


async def test_a_direct_job_delivered_but_not_marked_is_delivered_again_once(
        deps: Deps, clock) -> None:
    delivered: list[str] = []

    async def record(d: Deps, msg: OutboxMessage) -> None:
        delivered.append(msg.id)

    worker = OutboxWorker(deps, {"test.direct": record})
    deps.outbox_wakeup = worker.wakeups
    pending: list[asyncio.Task[object]] = []
    # Delivered in this process, then the process dies before the outcome is written.
    worker.wakeups.direct = lambda msg: pending.append(
        asyncio.get_running_loop().create_task(worker._attempt(msg)))
    msg = await _direct_job(deps)
    await asyncio.gather(*pending)
    assert delivered == [msg.id]
    assert (await _row(deps, msg.id)).status == "sending"
    assert await worker.run_once() == 0  # its lease still holds
    clock.advance(seconds=CLAIM_SECONDS + 1)
    await worker.drain()
    clock.advance(seconds=CLAIM_SECONDS + 1)
    await worker.drain()
    assert delivered == [msg.id, msg.id]  # again after the lease, and only once
    assert (await _row(deps, msg.id)).status == "sent"


async def test_a_failed_direct_delivery_is_retried_by_the_runners(deps: Deps, clock) -> None:
    tries: list[int] = []

    async def flaky(d: Deps, msg: OutboxMessage) -> None:
        tries.append(msg.attempts)
        if len(tries) == 1:
            raise OSError("gateway down")

    worker = OutboxWorker(deps, {"test.direct": flaky})
    deps.outbox_wakeup = worker.wakeups
    worker.wakeups.direct = worker.deliver_direct
    msg = await _direct_job(deps)
    await _settle(worker)
    row = await _row(deps, msg.id)
    assert (row.status, row.attempts) == ("queued", 1) and "gateway down" in row.last_error
    clock.advance(seconds=60)
    await worker.drain()
    assert tries == [1, 2]
    assert (await _row(deps, msg.id)).status == "sent"


async def test_a_job_queued_during_a_delivery_runs_at_once_not_at_the_next_poll(
        deps: Deps) -> None:
    """The runner does not claim again after a round that emptied its queue; a job
    committed meanwhile still starts at once (its wake-up), long before the next poll."""
    slow_poll = dataclasses.replace(
        deps, config=deps.config.replace(outbox={"poll_interval_seconds": 30.0}))
    done: dict[str, float] = {}
    second_done = asyncio.Event()

    async def first(d: Deps, msg: OutboxMessage) -> None:
        async with d.db.transaction() as tx:
            await outbox.enqueue(tx, "test.second", {}, now=d.clock.now(), queue="notify",
                                 wakeup=d.outbox_wakeup)
        done["first"] = time.monotonic()

    async def second(d: Deps, msg: OutboxMessage) -> None:
        done["second"] = time.monotonic()
        second_done.set()

    worker = OutboxWorker(slow_poll, {"test.first": first, "test.second": second})
    slow_poll.outbox_wakeup = worker.wakeups
    runner = asyncio.create_task(worker.run_forever())
    try:
        await asyncio.sleep(0.1)  # the runners are waiting (30 s poll)
        async with slow_poll.db.transaction() as tx:
            await outbox.enqueue(tx, "test.first", {}, now=slow_poll.clock.now(),
                                 queue="notify", wakeup=slow_poll.outbox_wakeup)
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(second_done.wait(), timeout=5)
    finally:
        worker.stop()
        await asyncio.wait_for(runner, timeout=10)
    assert "second" in done and done["second"] - started < 2.0
