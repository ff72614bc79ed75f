"""Append-only audit log with hash chains, written in the caller's transaction.

Every enterprise has a chain of its own and the platform has one ("" in storage), so an
append locks only its own chain's head: HR work in one enterprise never waits for
another's. Each entry's hash covers its content, its chain and position, and the
previous entry's hash in that chain, so removing or editing any row breaks every hash
after it in its chain. `verify_chain` walks every chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.context import RequestMeta
from storage.models import AuditChain, AuditEntry
from storage.uow import Database, Tx

GENESIS = "0" * 64
AUDIT_TABLE = cast(Table, AuditEntry.__table__)
CHAIN_TABLE = cast(Table, AuditChain.__table__)
PLATFORM = ""  # the chain of events that belong to no enterprise
# Session.info keys: the chain heads this transaction holds locked (chain -> seq, hash),
# and the entries it has appended, written together just before it commits.
HEADS_KEY = "laborsign_audit_heads"
PENDING_KEY = "laborsign_audit_pending"


def entry_hash(prev_hash: str, seq: int, at: datetime, fields: dict[str, Any],
               chain: str = PLATFORM) -> str:
    content = {"prev": prev_hash, "seq": seq, "at": at.isoformat(), **fields}
    # The platform chain continues the single chain that came before per-enterprise
    # chains, whose entries were hashed without a chain name; they still verify.
    if chain != PLATFORM:
        content["chain"] = chain
    canonical = json.dumps(
        content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "actor_id": entry.actor_id,
        "tenant_id": entry.tenant_id,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "data": entry.data,
        "ip": entry.ip,
    }


_HEAD = (select(AuditChain.seq, AuditChain.hash).where(AuditChain.chain == bindparam("chain"))
         .with_for_update())
_MOVE_HEAD = (CHAIN_TABLE.update().where(CHAIN_TABLE.c.chain == bindparam("head_chain"))
              .values(seq=bindparam("head_seq"), hash=bindparam("head_hash")))


async def _lock_head(tx: Tx, chain: str) -> tuple[int, str]:
    """Lock this chain's head; its (last position, last hash)."""
    session = tx.session
    params = {"chain": chain}
    head = (await session.execute(_HEAD, params)).first()
    if head is None:
        # The first append to a chain: FOR UPDATE locks nothing when the row is missing,
        # so concurrent writers would each start their own chain. Create the head
        # idempotently, then lock it like every later append does.
        insert = pg_insert if tx.dialect == "postgresql" else sqlite_insert
        await session.execute(
            insert(AuditChain).values(chain=chain, seq=0, hash=GENESIS).on_conflict_do_nothing()
        )
        head = (await session.execute(_HEAD, params)).one()
    return int(head[0]), str(head[1])


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
    """Append one entry to its enterprise's chain (or the platform's). Locks that chain's
    head so concurrent writers to the same chain queue instead of forking it.

    Written just before the transaction commits, all its entries in one statement and
    each chain's head moved once, rather than through the session's unit of work: an
    entry is never changed after it is written, and a flush (later: two statements) per
    entry was a large part of a signature's CPU (docs/benchmarks.md, "Third round" and
    "Fourth round"). So a query in the same transaction does not see it yet. The
    returned entry is not attached to the session (no `seq`)."""
    chain = tenant_id or PLATFORM
    # The head is locked until this transaction ends: a later entry in the same
    # transaction continues from what the last one wrote, without reading it again.
    heads: dict[str, tuple[int, str]] = tx.session.info.setdefault(HEADS_KEY, {})
    head_seq, head_hash = heads.get(chain) or await _lock_head(tx, chain)
    entry = AuditEntry(
        chain=chain, chain_seq=head_seq + 1, at=at, prev_hash=head_hash, hash="",
        actor_id=actor_id, tenant_id=tenant_id, action=action, subject_type=subject_type,
        subject_id=subject_id, data=data or {}, ip=meta.ip if meta else None,
    )
    entry.hash = entry_hash(head_hash, entry.chain_seq, at, _fields(entry), chain)
    pending: list[dict[str, Any]] = tx.session.info.setdefault(PENDING_KEY, [])
    pending.append({
        "chain": chain, "chain_seq": entry.chain_seq, "at": at, "actor_id": actor_id,
        "tenant_id": tenant_id, "action": action, "subject_type": subject_type,
        "subject_id": subject_id, "data": entry.data, "ip": entry.ip,
        "prev_hash": head_hash, "hash": entry.hash,
    })
    tx.before_commit(PENDING_KEY, lambda: _write_pending(tx))
    heads[chain] = (entry.chain_seq, entry.hash)
    return entry


async def _write_pending(tx: Tx) -> None:
    """The transaction's entries in one statement, and each chain's head moved once."""
    pending: list[dict[str, Any]] = tx.session.info.pop(PENDING_KEY, [])
    if not pending:
        return
    conn = await tx.session.connection()
    await conn.execute(AUDIT_TABLE.insert(), pending)
    heads: dict[str, tuple[int, str]] = tx.session.info.get(HEADS_KEY, {})
    for chain in dict.fromkeys(row["chain"] for row in pending):
        seq, hash_ = heads[chain]
        await conn.execute(_MOVE_HEAD, {"head_chain": chain, "head_seq": seq,
                                        "head_hash": hash_})


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    first_bad_seq: int | None = None  # position in the broken chain
    reason: str | None = None
    chain: str | None = None  # the broken chain: an enterprise id, or "" (platform)
    chains: int = 0


async def _iter_chain(db: Database, chain: str, batch: int = 1000
                      ) -> AsyncIterator[AuditEntry]:
    last = 0
    while True:
        async with db.sessions() as session:
            rows = (await session.execute(
                select(AuditEntry).where(AuditEntry.chain == chain, AuditEntry.chain_seq > last)
                .order_by(AuditEntry.chain_seq).limit(batch)
            )).scalars().all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].chain_seq


async def _verify_one(db: Database, chain: str, head: AuditChain | None
                      ) -> tuple[int, str | None, int | None]:
    """(entries checked, what is wrong or None, the first bad position)."""
    prev, expected, count = GENESIS, 1, 0
    async for row in _iter_chain(db, chain):
        if row.chain_seq != expected:
            return count, "missing entry", expected
        if row.prev_hash != prev or entry_hash(
                prev, row.chain_seq, row.at, _fields(row), chain) != row.hash:
            return count, "hash mismatch", row.chain_seq
        prev, expected, count = row.hash, expected + 1, count + 1
    if head is None:
        if count:
            return count, "the chain's head was removed", count + 1
    elif head.seq != count or head.hash != prev:
        return count, "entries after the last one were removed", count + 1
    return count, None, None


async def verify_chain(db: Database) -> ChainReport:
    """Walk every chain; report the first broken one (platform first, then enterprises
    in id order) or the total of entries checked."""
    async with db.sessions() as session:
        heads = {h.chain: h for h in (await session.execute(select(AuditChain))).scalars()}
        chains = set(heads) | set(
            (await session.execute(select(AuditEntry.chain).distinct())).scalars())
    total = 0
    for chain in sorted(chains):
        count, reason, bad = await _verify_one(db, chain, heads.get(chain))
        total += count
        if reason is not None:
            return ChainReport(total, False, bad, reason, chain, len(chains))
    return ChainReport(total, True, chains=len(chains))
