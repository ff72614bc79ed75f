"""Side effects after commit.

A service calls `enqueue()` inside its transaction; the row becomes visible only when
that transaction commits, so a rollback sends nothing. The worker claims due rows,
delivers them outside any transaction, and records the outcome; a crash mid-delivery
leaves a claim that expires and is retried. Deliverers must therefore be idempotent
where the outside world allows it (providers get the row id as a request id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from core.context import Deps
from storage.models import OutboxMessage
from storage.uow import Tx

log = logging.getLogger(__name__)

Deliverer = Callable[[Deps, OutboxMessage], Awaitable[None]]
CLAIM_SECONDS = 120


class PermanentFailure(Exception):
    """Retrying cannot help (e.g. the provider rejected the phone number)."""


async def enqueue(
    tx: Tx,
    kind: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    dedupe_key: str | None = None,
    wakeup: Any = None,
) -> OutboxMessage | None:
    if dedupe_key is not None:
        existing = (
            await tx.session.execute(
                select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
            )
        ).scalar_one_or_none()
        if existing is not None:
            return None
    msg = OutboxMessage(
        kind=kind, payload=payload, status="queued", attempts=0,
        created_at=now, next_attempt_at=now, dedupe_key=dedupe_key,
    )
    tx.session.add(msg)
    await tx.session.flush()
    if wakeup is not None:
        tx.after_commit(wakeup.set)
    return msg


def backoff(attempts: int) -> timedelta:
    """Exponential with jitter: 2, 4, 8 … seconds, capped at an hour."""
    base = min(3600, 2 ** attempts)
    return timedelta(seconds=base * (0.8 + 0.4 * random.random()))  # noqa: S311


class OutboxWorker:
    def __init__(self, deps: Deps, deliverers: dict[str, Deliverer]) -> None:
        self.deps = deps
        self.deliverers = deliverers
        self.wakeup = asyncio.Event()
        self._stopping = False

    async def claim(self, limit: int) -> list[OutboxMessage]:
        now = self.deps.clock.now()
        async with self.deps.db.transaction() as tx:
            query = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.next_attempt_at <= now,
                    (OutboxMessage.status == "queued")
                    | ((OutboxMessage.status == "sending") & (OutboxMessage.locked_until < now)),
                )
                .order_by(OutboxMessage.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = list((await tx.session.execute(query)).scalars().all())
            for row in rows:
                row.status = "sending"
                row.attempts += 1
                row.locked_until = now + timedelta(seconds=CLAIM_SECONDS)
        return rows

    async def deliver(self, msg: OutboxMessage) -> None:
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
        values: dict[str, Any]
        if error is None:
            payload = dict(msg.payload)
            for key in payload.pop("sensitive", []):
                payload[key] = "[redacted]"
            values = {"status": "sent", "sent_at": now, "last_error": None, "payload": payload}
        elif permanent or msg.attempts >= self.deps.config.outbox.max_attempts:
            log.warning("outbox message failed for good", extra={"id": msg.id, "kind": msg.kind})
            values = {"status": "failed", "last_error": error}
        else:
            values = {
                "status": "queued", "last_error": error,
                "next_attempt_at": now + backoff(msg.attempts),
            }
        async with self.deps.db.transaction() as tx:
            await tx.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == msg.id, OutboxMessage.status == "sending")
                .values(locked_until=None, **values)
            )

    async def run_once(self) -> int:
        rows = await self.claim(self.deps.config.outbox.batch_size)
        for row in rows:
            await self.deliver(row)
        return len(rows)

    async def drain(self, max_rounds: int = 50) -> None:
        """Deliver everything due now (tests and the demo command)."""
        for _ in range(max_rounds):
            if not await self.run_once():
                return

    async def run_forever(self) -> None:
        interval = self.deps.config.outbox.poll_interval_seconds
        while not self._stopping:
            try:
                delivered = await self.run_once()
            except Exception:
                log.exception("outbox round failed")
                delivered = 0
            if delivered:
                continue
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=interval)

    def stop(self) -> None:
        self._stopping = True
        self.wakeup.set()
