"""Append-only audit log with a hash chain, written in the caller's transaction.

Each entry's hash covers its content and the previous entry's hash, so removing or
editing any row breaks every hash after it. `verify_chain` walks the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.context import RequestMeta
from storage.models import AuditEntry, AuditHead
from storage.uow import Database, Tx

GENESIS = "0" * 64


def entry_hash(prev_hash: str, seq: int, at: datetime, fields: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"prev": prev_hash, "seq": seq, "at": at.isoformat(), **fields},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record(
    tx: Tx,
    *,
    at: datetime,
    action: str,
    actor_id: str | None = None,
    tenant_id: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    data: dict[str, Any] | None = None,
    meta: RequestMeta | None = None,
) -> AuditEntry:
    """Append one entry. Locks the chain head so concurrent writers queue, not fork."""
    session = tx.session
    head = (
        await session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())
    ).scalar_one_or_none()
    if head is None:
        # The first appends on an empty chain: FOR UPDATE locks nothing when the row is
        # missing, so concurrent writers would each start their own chain. Create the
        # head idempotently, then lock it like every later append does.
        insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
        await session.execute(
            insert(AuditHead).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing()
        )
        head = (
            await session.execute(
                select(AuditHead).where(AuditHead.id == 1).with_for_update()
            )
        ).scalar_one()
    fields = {
        "actor_id": actor_id,
        "tenant_id": tenant_id,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "data": data or {},
        "ip": meta.ip if meta else None,
    }
    seq = head.seq + 1
    digest = entry_hash(head.hash, seq, at, fields)
    entry = AuditEntry(seq=seq, at=at, prev_hash=head.hash, hash=digest, **fields)
    session.add(entry)
    head.seq, head.hash = seq, digest
    await session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    first_bad_seq: int | None = None
    reason: str | None = None


async def _iter_entries(db: Database, batch: int = 1000) -> AsyncIterator[AuditEntry]:
    last = 0
    while True:
        async with db.sessions() as session:
            rows = (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq)
                    .limit(batch)
                )
            ).scalars().all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq


async def verify_chain(db: Database) -> ChainReport:
    prev, expected_seq, count = GENESIS, 1, 0
    async for row in _iter_entries(db):
        if row.seq != expected_seq:
            return ChainReport(count, False, expected_seq, "missing entry")
        fields = {
            "actor_id": row.actor_id,
            "tenant_id": row.tenant_id,
            "action": row.action,
            "subject_type": row.subject_type,
            "subject_id": row.subject_id,
            "data": row.data,
            "ip": row.ip,
        }
        if row.prev_hash != prev or entry_hash(prev, row.seq, row.at, fields) != row.hash:
            return ChainReport(count, False, row.seq, "hash mismatch")
        prev, expected_seq, count = row.hash, expected_seq + 1, count + 1
    async with db.sessions() as session:
        head = await session.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.hash != prev):
        return ChainReport(count, False, count + 1, "entries after the last one were removed")
    return ChainReport(count, True)
