"""Sliding-window rate limits kept in the database, so every worker process shares them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text

from core.errors import RateLimited
from storage.models import RateEvent
from storage.uow import Tx


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int
    message: str = "操作过于频繁，请稍后再试"


async def _lock_key(tx: Tx, bucket: str, key: str) -> None:
    # On PostgreSQL two requests could both count 0 and both pass; a transaction-scoped
    # advisory lock on the key makes check-and-record atomic. SQLite already serialises
    # writers (BEGIN IMMEDIATE).
    if tx.dialect == "postgresql":
        await tx.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"{bucket}:{key}"}
        )


async def check(tx: Tx, bucket: str, key: str, limits: Sequence[Limit], now: datetime) -> None:
    """Raise RateLimited (with seconds to wait) if any limit is already used up."""
    await _lock_key(tx, bucket, key)
    for limit in limits:
        since = now - timedelta(seconds=limit.seconds)
        count, oldest = (
            await tx.session.execute(
                select(func.count(), func.min(RateEvent.at)).where(
                    RateEvent.bucket == bucket, RateEvent.key == key, RateEvent.at > since
                )
            )
        ).one()
        if count >= limit.count:
            wait = (oldest + timedelta(seconds=limit.seconds) - now).total_seconds()
            raise RateLimited(limit.message, retry_after=max(1, math.ceil(wait)))


async def hit(tx: Tx, bucket: str, key: str, limits: Sequence[Limit], now: datetime) -> None:
    """Check the limits, then count this event."""
    await check(tx, bucket, key, limits, now)
    await record(tx, bucket, key, now)


async def record(tx: Tx, bucket: str, key: str, now: datetime) -> None:
    tx.session.add(RateEvent(bucket=bucket, key=key, at=now))
    await tx.session.flush()


async def count_since(tx: Tx, bucket: str, key: str, since: datetime) -> int:
    return (
        await tx.session.execute(
            select(func.count()).where(
                RateEvent.bucket == bucket, RateEvent.key == key, RateEvent.at > since
            )
        )
    ).scalar_one()


async def clear(tx: Tx, bucket: str, key: str) -> None:
    await tx.session.execute(
        delete(RateEvent).where(RateEvent.bucket == bucket, RateEvent.key == key)
    )


async def prune(tx: Tx, older_than: datetime) -> int:
    return await tx.changed(delete(RateEvent).where(RateEvent.at < older_than))
