"""Jobs on named queues: routing, scheduling, idempotency windows, cancel, back-off,
dead letters, codes ahead of bulk work, and periodic tasks that run once."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import outbox, periodic
from core.accounts import send_code
from core.context import Deps, RequestMeta
from core.errors import Conflict
from core.outbox import OutboxWorker, PermanentFailure
from core.sms import queue_sms
from handlers.app import build_deps, deliverers
from storage.models import ConsoleSms, OutboxMessage, PeriodicRun
from tests.factories import next_phone

META = RequestMeta(ip="10.0.0.9")


async def _enqueue(deps: Deps, kind: str, **kw) -> OutboxMessage | None:
    async with deps.db.transaction() as tx:
        return await outbox.enqueue(tx, kind, {"n": 1}, now=deps.clock.now(), **kw)


async def _status(deps: Deps, job_id: str) -> str:
    async with deps.db.sessions() as s:
        return (await s.get(OutboxMessage, job_id)).status


async def test_each_kind_lands_on_its_queue(deps: Deps) -> None:
    phone = next_phone()
    await send_code(deps, purpose="register", phone=phone, meta=META)
    async with deps.db.transaction() as tx:
        await queue_sms(tx, deps, phone, "notice", {"text": "您好"})
    await _enqueue(deps, "test.unknown")
    async with deps.db.sessions() as s:
        rows = (await s.execute(select(OutboxMessage.kind, OutboxMessage.queue,
                                       OutboxMessage.payload))).all()
    queues = {(kind, payload.get("template")): queue for kind, queue, payload in rows}
    assert queues == {("sms.send", "code"): "codes", ("sms.send", "notice"): "notify",
                      ("test.unknown", None): "bulk"}
    with pytest.raises(ValueError, match="unknown queue"):
        await _enqueue(deps, "test.unknown", queue="nowhere")


async def test_a_scheduled_job_waits_for_its_time(deps: Deps, clock) -> None:
    ran: list[str] = []

    async def deliver(d: Deps, msg: OutboxMessage) -> None:
        ran.append(msg.id)

    job = await _enqueue(deps, "test.later", run_at=deps.clock.now() + timedelta(hours=2))
    worker = OutboxWorker(deps, {"test.later": deliver})
    await worker.drain()
    assert ran == []
    clock.advance(hours=2)
    await worker.drain()
    assert ran == [job.id]


async def test_an_idempotency_key_is_per_kind_and_per_window(deps: Deps, clock) -> None:
    day = timedelta(days=1)
    first = await _enqueue(deps, "test.remind", dedupe_key="c1", dedupe_window=day)
    assert first is not None
    assert await _enqueue(deps, "test.remind", dedupe_key="c1", dedupe_window=day) is None
    assert await _enqueue(deps, "test.other", dedupe_key="c1", dedupe_window=day) is not None
    clock.advance(days=1)
    assert await _enqueue(deps, "test.remind", dedupe_key="c1", dedupe_window=day) is not None
    # Without a window a key is used once for good, as before.
    assert await _enqueue(deps, "test.once", dedupe_key="k") is not None
    clock.advance(days=30)
    assert await _enqueue(deps, "test.once", dedupe_key="k") is None


async def test_cancel_stops_queued_jobs_of_that_key_only(deps: Deps) -> None:
    a = await _enqueue(deps, "test.remind", dedupe_key="contract-1",
                       dedupe_window=timedelta(hours=10))
    b = await _enqueue(deps, "test.remind", dedupe_key="contract-2")
    async with deps.db.transaction() as tx:
        assert await outbox.cancel(tx, "test.remind", "contract-1") == 1
    assert (await _status(deps, a.id), await _status(deps, b.id)) == ("cancelled", "queued")
    worker = OutboxWorker(deps, {"test.remind": lambda d, m: asyncio.sleep(0)})
    await worker.drain()
    assert (await _status(deps, a.id), await _status(deps, b.id)) == ("cancelled", "sent")


def test_backoff_grows_and_is_capped() -> None:
    assert outbox.backoff(1) < outbox.backoff(5)
    assert outbox.backoff(60) <= timedelta(seconds=outbox.BACKOFF_CAP_SECONDS * 1.2)


async def test_a_dead_letter_can_be_retried_or_discarded(deps: Deps) -> None:
    fail = {"now": True}

    async def deliver(d: Deps, msg: OutboxMessage) -> None:
        if fail["now"]:
            raise PermanentFailure("对方拒收")

    jobs = [await _enqueue(deps, "test.fragile") for _ in range(2)]
    worker = OutboxWorker(deps, {"test.fragile": deliver})
    await worker.drain()
    dead = await outbox.dead_letters(deps)
    assert {d.id for d in dead} == {j.id for j in jobs}
    assert all("对方拒收" in (d.last_error or "") for d in dead)
    fail["now"] = False
    async with deps.db.transaction() as tx:
        await outbox.retry_dead_letter(tx, jobs[0].id, deps.clock.now())
        await outbox.discard_dead_letter(tx, jobs[1].id)
    await worker.drain()
    assert (await _status(deps, jobs[0].id), await _status(deps, jobs[1].id)) == (
        "sent", "discarded")
    async with deps.db.transaction() as tx:
        with pytest.raises(Conflict):
            await outbox.retry_dead_letter(tx, jobs[0].id, deps.clock.now())


async def test_codes_arrive_within_a_second_behind_a_signing_burst_and_bulk_work(
        deps: Deps) -> None:
    """1,000 bulk jobs and a burst of 100 signing jobs are queued first, each taking
    20 ms; then five people ask for a code. Every code SMS is delivered within a second."""

    async def slow(d: Deps, msg: OutboxMessage) -> None:
        await asyncio.sleep(0.02)

    worker = OutboxWorker(deps, {**deliverers(), "test.bulk": slow, "test.sign": slow})
    deps.outbox_wakeup = worker.wakeups
    async with deps.db.transaction() as tx:
        for i in range(1000):
            await outbox.enqueue(tx, "test.bulk", {"i": i}, now=deps.clock.now())
        for i in range(100):
            await outbox.enqueue(tx, "test.sign", {"i": i}, now=deps.clock.now(),
                                 queue="signing")
    runner = asyncio.create_task(worker.run_forever())
    try:
        await asyncio.sleep(0.3)  # the runners are busy with the backlog
        phones = [next_phone() for _ in range(5)]
        started = time.monotonic()
        await asyncio.gather(*(send_code(deps, purpose="register", phone=phone, meta=META)
                               for phone in phones))
        while time.monotonic() - started < 5:
            async with deps.db.sessions() as s:
                sent = (await s.execute(select(func.count()).select_from(ConsoleSms)
                                        .where(ConsoleSms.phone.in_(phones)))).scalar_one()
            if sent == len(phones):
                break
            await asyncio.sleep(0.02)
        waited = time.monotonic() - started
        async with deps.db.sessions() as s:
            bulk_left = (await s.execute(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.kind == "test.bulk", OutboxMessage.status == "queued"))
            ).scalar_one()
    finally:
        worker.stop()
        await asyncio.wait_for(runner, timeout=10)
    assert sent == len(phones) and waited < 1.0, f"codes took {waited:.2f}s"
    assert bulk_left > 500  # the bulk backlog was really still there


async def test_a_periodic_task_runs_once_per_period_across_processes(
        deps: Deps, config, clock) -> None:
    """Three processes' schedulers (each its own Deps and connections) tick together:
    the task runs once, and again only when its period has passed."""
    runs: list[str] = []

    async def task_body(d: Deps) -> int:
        runs.append("ran")
        return 1

    task = periodic.PeriodicTask("test.sweep", timedelta(minutes=5), task_body)
    others = [build_deps(config, clock=clock) for _ in range(2)]
    try:
        everyone = [deps, *others]
        await asyncio.gather(*(periodic.run_due(d, (task,)) for d in everyone))
        await asyncio.gather(*(periodic.run_due(d, (task,)) for d in everyone))
        assert runs == ["ran"]
        clock.advance(minutes=5)
        await asyncio.gather(*(periodic.run_due(d, (task,)) for d in everyone))
        assert runs == ["ran", "ran"]
    finally:
        for d in others:
            await d.db.dispose()
    async with deps.db.sessions() as s:
        row = await s.get(PeriodicRun, "test.sweep")
    assert row is not None and row.next_run_at == clock.now() + timedelta(minutes=5)
    assert row.runs == 2


async def test_a_failing_periodic_task_records_its_error_and_runs_next_period(
        deps: Deps, clock) -> None:
    async def broken(d: Deps) -> None:
        raise RuntimeError("磁盘已满")

    task = periodic.PeriodicTask("test.broken", timedelta(minutes=1), broken)
    assert await periodic.run_due(deps, (task,)) == ["test.broken"]
    assert "磁盘已满" in ((await periodic.next_runs(deps))["test.broken"].last_error or "")
    assert await periodic.run_due(deps, (task,)) == []
    clock.advance(minutes=1)
    assert await periodic.run_due(deps, (task,)) == ["test.broken"]
