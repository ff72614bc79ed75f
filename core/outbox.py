"""Jobs: side effects and background work, queued in the transaction that causes them.

A service calls `enqueue()` inside its transaction; the row becomes visible only when
that transaction commits, so a rollback sends nothing and a crash loses nothing. A job
runs on a named queue (QUEUES); each queue has a runner loop and a concurrency of its
own, so an SMS code never waits behind a thousand bulk jobs. A runner claims due rows
of its queue (`SKIP LOCKED` on PostgreSQL), delivers them outside any transaction and
records the outcome: sent, or queued again with exponential back-off, or after the last
try `failed`, a dead letter the operator can retry or discard. A crash mid-delivery
leaves a claim that expires and is retried, so deliverers must be idempotent where the
outside world allows it (providers get the row id as a request id).

Why our own table instead of a PostgreSQL job library (procrastinate, pgqueuer): the
embedded default runs on SQLite, and a job must be written in the same SQLAlchemy
transaction as the business change on both databases; those libraries are
PostgreSQL-only and bring their own connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, func, select, text, update

from core.context import Deps
from core.errors import Conflict, NotFound
from storage.models import OutboxMessage
from storage.models.base import new_id
from storage.uow import BACKGROUND_WRITES, Tx

log = logging.getLogger(__name__)

Deliverer = Callable[[Deps, OutboxMessage], Awaitable[None]]
CLAIM_SECONDS = 120
BACKOFF_CAP_SECONDS = 3600
NOTIFY_CHANNEL = "laborsign_jobs"
OUTBOX_TABLE = cast(Table, OutboxMessage.__table__)


@dataclass(frozen=True)
class Queue:
    name: str
    # Jobs of this queue delivered at once by one process.
    concurrency: int
    label: str
    # Its writes let requests and urgent jobs go first (SQLite's one writer at a time).
    background: bool = False


# In order of urgency. A person waits for a code; notifications should be prompt;
# signing jobs finish what a person confirmed; webhooks and bulk work can wait.
QUEUES: tuple[Queue, ...] = (
    Queue("codes", 4, "验证码与登录"),
    Queue("notify", 4, "通知"),
    Queue("signing", 2, "签署", background=True),
    Queue("webhooks", 4, "回调", background=True),
    Queue("bulk", 2, "批量任务", background=True),
)
QUEUE_NAMES = frozenset(q.name for q in QUEUES)
# The queue of each kind that does not say otherwise when it is enqueued.
KIND_QUEUES: dict[str, str] = {
    "sms.send": "notify",  # codes say queue="codes" (core/sms.py)
    "wechat.custom": "notify",
    "notify.send": "notify",
    "contract.sign": "signing",
    "pki.person": "signing",
}
DEFAULT_QUEUE = "bulk"


class PermanentFailure(Exception):
    """Retrying cannot help (e.g. the provider rejected the phone number)."""


class Wakeups:
    """Per-queue events a process's runners sleep on; set after a commit that queued
    work, so a job starts at once instead of at the next poll."""

    def __init__(self) -> None:
        self.events = {name: asyncio.Event() for name in QUEUE_NAMES}
        # Set while this process runs its job runners (OutboxWorker.run_forever): hands
        # a committed, already claimed job to them for delivery at once (`enqueue(...,
        # direct=True)`).
        self.direct: Callable[[OutboxMessage], None] | None = None

    def wake(self, queue: str) -> None:
        event = self.events.get(queue)
        if event is not None:
            event.set()


def queue_of(kind: str, queue: str | None = None) -> str:
    chosen = queue or KIND_QUEUES.get(kind, DEFAULT_QUEUE)
    if chosen not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {chosen!r}")
    return chosen


def _scoped_key(key: str, now: datetime, window: timedelta | None) -> str:
    """A key with a window is unique within one window only: its stored form carries
    the window's number since the epoch, so "remind signer X" works again tomorrow."""
    if window is None:
        return key
    return f"{key}@{int(now.timestamp() // window.total_seconds())}"


# Built once (bound parameters): every signature queues several jobs.
_KEY_USED = select(OutboxMessage.id).where(OutboxMessage.kind == bindparam("kind"),
                                           OutboxMessage.dedupe_key == bindparam("key"))
_INSERT = OUTBOX_TABLE.insert()


async def enqueue(
    tx: Tx,
    kind: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    dedupe_key: str | None = None,
    dedupe_window: timedelta | None = None,
    run_at: datetime | None = None,
    queue: str | None = None,
    wakeup: Wakeups | None = None,
    direct: bool = False,
) -> OutboxMessage | None:
    """Queue a job in the caller's transaction; None when its idempotency key (per
    kind, within `dedupe_window` if given) was used already. `run_at` schedules it.

    `direct` (a person is waiting: the sign-in or signing code): when this process runs
    the job runners, the row is written already claimed by them (`sending`, one
    attempt, the usual lease) and delivered right after the commit, then marked in one
    transaction: no claim transaction and no runner round. Crash-safe like any claim:
    the row was committed first, so if the process dies before marking it, a runner
    claims it again when the lease has expired and delivers it once more."""
    name = queue_of(kind, queue)
    key = _scoped_key(dedupe_key, now, dedupe_window) if dedupe_key is not None else None
    if key is not None:
        existing = (await tx.session.execute(_KEY_USED, {"kind": kind, "key": key})
                    ).scalar_one_or_none()
        if existing is not None:
            return None
    # One INSERT rather than the session's unit of work (a flush per job): the row is
    # only ever changed by the runners, never through this transaction's session.
    # The returned job is not attached to the session.
    due = max(run_at or now, now)
    hand_over = wakeup.direct if direct and wakeup is not None and due <= now else None
    claimed = hand_over is not None
    msg = OutboxMessage(
        id=new_id(), kind=kind, queue=name, payload=payload,
        status="sending" if claimed else "queued", attempts=1 if claimed else 0,
        created_at=now, next_attempt_at=due, dedupe_key=key,
        locked_until=now + timedelta(seconds=CLAIM_SECONDS) if claimed else None,
        sent_at=None, last_error=None,
    )
    conn = await tx.session.connection()
    await conn.execute(_INSERT, {
        "id": msg.id, "kind": kind, "queue": name, "payload": payload, "status": msg.status,
        "attempts": msg.attempts, "created_at": now, "next_attempt_at": due,
        "dedupe_key": key, "locked_until": msg.locked_until,
    })
    if hand_over is not None:
        tx.after_commit(lambda: hand_over(msg))
        return msg
    if tx.dialect == "postgresql":
        # Delivered on commit only, to every process listening (core.outbox.listen).
        await tx.session.execute(text("SELECT pg_notify(:c, :q)"),
                                 {"c": NOTIFY_CHANNEL, "q": name})
    if wakeup is not None and msg.next_attempt_at <= now:
        tx.after_commit(lambda: wakeup.wake(name))
    return msg


async def cancel(tx: Tx, kind: str, dedupe_key: str) -> int:
    """Cancel queued jobs of a kind by their key (a reminder for a contract that was
    signed meanwhile). Jobs already running or done are left alone."""
    return await tx.changed(
        update(OutboxMessage)
        .where(OutboxMessage.kind == kind, OutboxMessage.status == "queued",
               OutboxMessage.dedupe_key.like(f"{dedupe_key}%"))
        .values(status="cancelled")
    )


def backoff(attempts: int) -> timedelta:
    """Exponential with jitter: 2, 4, 8 … seconds, capped at an hour."""
    base = min(BACKOFF_CAP_SECONDS, 2 ** attempts)
    return timedelta(seconds=base * (0.8 + 0.4 * random.random()))  # noqa: S311


# The runners' statements, built once (bound parameters).
_CLAIM = (
    select(OutboxMessage)
    .where(
        OutboxMessage.queue == bindparam("queue"),
        OutboxMessage.next_attempt_at <= bindparam("now"),
        (OutboxMessage.status == "queued")
        | ((OutboxMessage.status == "sending")
           & (OutboxMessage.locked_until < bindparam("now"))),
    )
    .order_by(OutboxMessage.next_attempt_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)


@lru_cache(maxsize=8)
def _outcome_update(columns: tuple[str, ...]) -> Update:
    """A job's outcome (one of a few shapes of columns), released from its claim."""
    return (update(OutboxMessage)
            .where(OutboxMessage.id == bindparam("job_id"), OutboxMessage.status == "sending")
            .values(locked_until=None, **{c: bindparam(f"v_{c}") for c in columns}))


class OutboxWorker:
    """Runs a process's share of the jobs: one loop per queue, each claiming up to its
    queue's concurrency and delivering those jobs side by side."""

    def __init__(self, deps: Deps, deliverers: dict[str, Deliverer],
                 queues: tuple[Queue, ...] = QUEUES) -> None:
        self.deps = deps
        self.deliverers = deliverers
        self.queues = queues
        self.wakeups = Wakeups()
        self._stopping = False
        self._direct_tasks: set[asyncio.Task[None]] = set()

    async def claim(self, queue: str, limit: int) -> list[OutboxMessage]:
        now = self.deps.clock.now()
        async with self.deps.db.transaction() as tx:
            rows = list((await tx.session.execute(
                _CLAIM, {"queue": queue, "now": now, "limit": limit})).scalars().all())
            for row in rows:
                row.status = "sending"
                row.attempts += 1
                row.locked_until = now + timedelta(seconds=CLAIM_SECONDS)
        return rows

    async def deliver(self, msg: OutboxMessage) -> None:
        await self._record([(msg, await self._attempt(msg))])

    def deliver_direct(self, msg: OutboxMessage) -> None:
        """A job committed already claimed (`enqueue(..., direct=True)`): deliver it in
        this process now, then record its outcome, as a runner would."""
        task = asyncio.get_running_loop().create_task(self._deliver_direct(msg))
        self._direct_tasks.add(task)
        task.add_done_callback(self._direct_tasks.discard)

    async def _deliver_direct(self, msg: OutboxMessage) -> None:
        try:
            await self.deliver(msg)
        except Exception:  # the lease expires and a runner delivers it again
            log.exception("direct job delivery failed", extra={"id": msg.id})

    async def _attempt(self, msg: OutboxMessage) -> dict[str, Any]:
        """Run the job; the values its row gets (sent, failed, or queued for a retry)."""
        deliverer = self.deliverers.get(msg.kind)
        error: str | None = None
        permanent = False
        if deliverer is None:
            error, permanent = f"no deliverer for {msg.kind}", True
        else:
            try:
                await deliverer(self.deps, msg)
            except PermanentFailure as exc:
                error, permanent = f"{type(exc).__name__}: {exc}"[:2000], True
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:2000]
        now = self.deps.clock.now()
        if error is None:
            payload = dict(msg.payload)
            for key in payload.pop("sensitive", []):
                payload[key] = "[redacted]"
            return {"status": "sent", "sent_at": now, "last_error": None, "payload": payload}
        if permanent or msg.attempts >= self.deps.config.outbox.max_attempts:
            log.warning("job failed for good", extra={"id": msg.id, "kind": msg.kind})
            return {"status": "failed", "last_error": error}
        return {
            "status": "queued", "last_error": error,
            "next_attempt_at": now + backoff(msg.attempts),
        }

    async def _record(self, outcomes: list[tuple[OutboxMessage, dict[str, Any]]]) -> None:
        """The outcomes of one claim's jobs, in one transaction."""
        async with self.deps.db.transaction() as tx:
            for msg, values in outcomes:
                await tx.session.execute(_outcome_update(tuple(sorted(values))), {
                    "job_id": msg.id, **{f"v_{k}": v for k, v in values.items()}})

    async def run_queue_once(self, queue: Queue) -> int:
        rows = await self.claim(queue.name, queue.concurrency)
        if len(rows) == 1:
            await self.deliver(rows[0])
        elif rows:
            # Side by side; their outcomes in one write transaction, not one each.
            outcomes = await asyncio.gather(*(self._attempt(row) for row in rows))
            await self._record(list(zip(rows, outcomes, strict=True)))
        return len(rows)

    async def run_once(self) -> int:
        """One round over every queue, most urgent first."""
        return sum([await self.run_queue_once(queue) for queue in self.queues])

    async def drain(self, max_rounds: int = 50) -> None:
        """Deliver everything due now (tests and the demo command)."""
        for _ in range(max_rounds):
            if not await self.run_once():
                return

    async def _run_queue(self, queue: Queue) -> None:
        # This task's own context: everything it writes (claims, the deliverers' work,
        # outcomes) steps aside for urgent writers when the queue can wait.
        BACKGROUND_WRITES.set(queue.background)
        interval = self.deps.config.outbox.poll_interval_seconds
        event = self.wakeups.events[queue.name]
        while not self._stopping:
            # Cleared before the claim, so a job committed after the claim's query sets
            # it again and the wait below returns at once.
            event.clear()
            try:
                delivered = await self.run_queue_once(queue)
            except Exception:
                log.exception("job round failed", extra={"queue": queue.name})
                delivered = 0
            if delivered >= queue.concurrency:
                continue  # maybe more due: claim again
            # Fewer than a full claim: nothing else was due when it was made. Claiming
            # again at once cost a write transaction that found nothing, after every
            # job (docs/benchmarks.md, "Third round").
            if delivered and event.is_set():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=interval)

    async def run_forever(self) -> None:
        tasks = [asyncio.create_task(self._run_queue(q), name=f"jobs-{q.name}")
                 for q in self.queues]
        listener = asyncio.create_task(listen(self.deps, self.wakeups), name="jobs-listen")
        self.wakeups.direct = self.deliver_direct
        try:
            await asyncio.gather(*tasks)
        finally:
            self.wakeups.direct = None
            listener.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(listener, *tasks, return_exceptions=True)

    def stop(self) -> None:
        self._stopping = True
        self.wakeups.direct = None
        for event in self.wakeups.events.values():
            event.set()


async def listen(deps: Deps, wakeups: Wakeups) -> None:
    """On PostgreSQL, wake this process's runners when any process queues a job
    (LISTEN/NOTIFY), so a job queued by a web process starts at once in a worker.
    Polling stays as the fallback; on SQLite there is only one process."""
    url = deps.db.engine.url
    if url.get_backend_name() != "postgresql":
        return
    import asyncpg

    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            conn = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError):
            log.warning("job wake-ups: cannot listen, polling only for a while")
            await asyncio.sleep(30)
            continue
        closed = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn, ev=closed: ev.set())
            await conn.add_listener(NOTIFY_CHANNEL, lambda *a: wakeups.wake(a[3]))
            await closed.wait()  # the server went away: connect again
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.close(timeout=2))


# -- dead letters (the operator console) ---------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    id: str
    kind: str
    queue: str
    attempts: int
    created_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class QueueStats:
    name: str
    label: str
    queued: int
    running: int
    failed: int


async def queue_stats(deps: Deps) -> list[QueueStats]:
    async with deps.db.sessions() as session:
        rows = (await session.execute(
            select(OutboxMessage.queue, OutboxMessage.status, func.count())
            .where(OutboxMessage.status.in_(["queued", "sending", "failed"]))
            .group_by(OutboxMessage.queue, OutboxMessage.status)
        )).all()
    counts = {(q, s): n for q, s, n in rows}
    return [QueueStats(q.name, q.label, counts.get((q.name, "queued"), 0),
                       counts.get((q.name, "sending"), 0), counts.get((q.name, "failed"), 0))
            for q in QUEUES]


async def dead_letters(deps: Deps, limit: int = 100) -> list[DeadLetter]:
    async with deps.db.sessions() as session:
        rows = (await session.execute(
            select(OutboxMessage).where(OutboxMessage.status == "failed")
            .order_by(OutboxMessage.created_at.desc()).limit(limit)
        )).scalars().all()
    return [DeadLetter(r.id, r.kind, r.queue, r.attempts, r.created_at, r.last_error)
            for r in rows]


async def _dead(tx: Tx, job_id: str) -> OutboxMessage:
    row = (await tx.session.execute(
        select(OutboxMessage).where(OutboxMessage.id == job_id).with_for_update()
    )).scalar_one_or_none()
    if row is None:
        raise NotFound("任务不存在")
    if row.status != "failed":
        raise Conflict("该任务不在失败列表中", code="job_not_failed")
    return row


async def retry_dead_letter(tx: Tx, job_id: str, now: datetime) -> OutboxMessage:
    """Queue a dead letter again with a fresh set of tries (the caller checks who may)."""
    row = await _dead(tx, job_id)
    row.status, row.attempts, row.next_attempt_at = "queued", 0, now
    row.locked_until = None
    return row


async def discard_dead_letter(tx: Tx, job_id: str) -> OutboxMessage:
    row = await _dead(tx, job_id)
    row.status = "discarded"
    return row
