"""Sliding-window rate limits kept in the database, so every worker process shares them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, case, delete, func, select, text

from core.errors import RateLimited
from storage.models import RateEvent
from storage.uow import Tx

RATE_EVENTS = cast(Table, RateEvent.__table__)


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


@lru_cache(maxsize=8)
def _windows_query(windows: int) -> Select[Any]:
    """A count and the oldest event inside each of `windows` windows, built once per
    number of windows (bound parameters since0, since1, …)."""
    columns: list[Any] = []
    for i in range(windows):
        inside = RateEvent.at > bindparam(f"since{i}", type_=RateEvent.at.type)
        columns += [func.count(case((inside, 1))), func.min(case((inside, RateEvent.at)))]
    return select(*columns).where(
        RateEvent.bucket == bindparam("bucket"), RateEvent.key == bindparam("key"),
        RateEvent.at > bindparam("earliest", type_=RateEvent.at.type))


async def check(tx: Tx, bucket: str, key: str, limits: Sequence[Limit], now: datetime) -> None:
    """Raise RateLimited (with seconds to wait) if any limit is already used up.

    All of a key's windows are counted in one query (a count and the oldest event per
    window), not one query each: a code request checks three windows for the phone."""
    await _lock_key(tx, bucket, key)
    if not limits:
        return
    windows = [now - timedelta(seconds=limit.seconds) for limit in limits]
    params: dict[str, object] = {f"since{i}": since for i, since in enumerate(windows)}
    row = (await tx.session.execute(
        _windows_query(len(windows)),
        {**params, "bucket": bucket, "key": key, "earliest": min(windows)})).one()
    for i, limit in enumerate(limits):
        count, oldest = row[2 * i], row[2 * i + 1]
        if count >= limit.count:
            wait = (oldest + timedelta(seconds=limit.seconds) - now).total_seconds()
            raise RateLimited(limit.message, retry_after=max(1, math.ceil(wait)))


async def hit(tx: Tx, bucket: str, key: str, limits: Sequence[Limit], now: datetime) -> None:
    """Check the limits, then count this event."""
    await check(tx, bucket, key, limits, now)
    await record(tx, bucket, key, now)


async def record(tx: Tx, bucket: str, key: str, now: datetime) -> None:
    # One INSERT; an event is never read back through this session.
    conn = await tx.session.connection()
    await conn.execute(RATE_EVENTS.insert(), {"bucket": bucket, "key": key, "at": now})


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
