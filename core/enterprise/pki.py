"""Certificates and seal images for enterprises, kept in step with certification and seals.

The enterprise services change rows inside one transaction; issuing a certificate opens
its own transactions and generates a key (slow CPU work), and drawing a seal is CPU work
too. So they are outbox jobs: queued in the changing transaction (a rollback queues
nothing), run right after commit, retried until done, and idempotent:

- ``pki.issue``: the enterprise certificate when the enterprise is certified, and one
  certificate per seal (subject "企业名（合同章）"), so voiding one seal revokes exactly it.
- ``pki.revoke``: every active certificate of one owner issued up to the moment of the
  change (a certificate issued after a re-certification is never caught by an old job).
- ``seal.images``: draws the generated seals still 待生成图片.

Signing does not wait for these jobs: `seal_certificate` issues on first use if the job
has not run yet.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core import outbox
from core.context import Deps
from core.cpu import run_cpu
from core.signing import seals as seal_art
from core.signing import service
from storage.models import Certificate, Enterprise, OutboxMessage, Seal
from storage.uow import Tx

log = logging.getLogger(__name__)

ISSUE_KIND = "pki.issue"
REVOKE_KIND = "pki.revoke"
IMAGES_KIND = "seal.images"
CERTIFIED = "certified"  # EnterpriseState.CERTIFIED, without importing certification


async def queue_issue(tx: Tx, deps: Deps, enterprise_id: str) -> None:
    """Certificates for the enterprise and its live seals, after this transaction commits."""
    await outbox.enqueue(tx, ISSUE_KIND, {"enterprise_id": enterprise_id},
                         now=deps.clock.now(), wakeup=deps.outbox_wakeup)


async def queue_revoke(tx: Tx, deps: Deps, owner_type: str, owner_id: str, reason: str,
                       *, enterprise_id: str, actor_id: str | None) -> None:
    now = deps.clock.now()
    await outbox.enqueue(
        tx, REVOKE_KIND,
        {"owner_type": owner_type, "owner_id": owner_id, "reason": reason,
         "enterprise_id": enterprise_id, "actor_id": actor_id, "before": now.isoformat()},
        now=now, wakeup=deps.outbox_wakeup,
    )


async def queue_seal_images(tx: Tx, deps: Deps, enterprise_id: str) -> None:
    await outbox.enqueue(tx, IMAGES_KIND, {"enterprise_id": enterprise_id},
                         now=deps.clock.now(), wakeup=deps.outbox_wakeup)


# ---------------------------------------------------------------- issuing


async def _load(deps: Deps, enterprise_id: str) -> tuple[Enterprise | None, list[Seal]]:
    async with deps.db.sessions() as session:
        ent = await session.get(Enterprise, enterprise_id)
        seals = (
            await session.execute(
                select(Seal).where(Seal.enterprise_id == enterprise_id,
                                   Seal.status != "voided").order_by(Seal.created_at)
            )
        ).scalars().all()
    return ent, list(seals)


async def _stale(deps: Deps, owner_type: str, owner_id: str,
                 certified_at: datetime | None) -> None:
    """Revoke an active certificate issued before the latest certification: its subject
    may carry the old name (the revoke job for the change may still be pending)."""
    found = await service.active_certificate(deps, owner_type, owner_id)
    if found is not None and certified_at is not None and found.not_before < certified_at:
        async with deps.db.sessions() as session:
            row = await session.get(Certificate, found.id)
        if row is not None and row.created_at < certified_at:
            await service.revoke_certificate(deps, found.id, reason="superseded",
                                             actor_id=None, tenant_id=None)


async def enterprise_certificate(deps: Deps, enterprise_id: str) -> str | None:
    """The certified enterprise's active certificate id, issuing it if needed."""
    ent, _ = await _load(deps, enterprise_id)
    if ent is None or ent.state != CERTIFIED:
        return None
    await _stale(deps, "enterprise", ent.id, ent.certified_at)
    info = await service.issue_enterprise_certificate(
        deps, ent.id, name=ent.name, credit_code=ent.credit_code, actor_id=None)
    if ent.certificate_id != info.id:
        async with deps.db.transaction() as tx:
            row = await tx.session.get(Enterprise, ent.id)
            if row is not None:
                row.certificate_id = info.id
    return info.id


async def seal_certificate(deps: Deps, seal_id: str) -> str | None:
    """The live seal's active certificate id, issuing it if needed (None: voided/unknown)."""
    async with deps.db.sessions() as session:
        seal = await session.get(Seal, seal_id)
        ent = await session.get(Enterprise, seal.enterprise_id) if seal else None
    if seal is None or ent is None or seal.status == "voided" or ent.state != CERTIFIED:
        return None
    await _stale(deps, "seal", seal.id, ent.certified_at)
    info = await service.issue_seal_certificate(
        deps, seal.id, enterprise_id=ent.id, enterprise_name=ent.name, seal_name=seal.name,
        credit_code=ent.credit_code, actor_id=None)
    if seal.certificate_id != info.id:
        async with deps.db.transaction() as tx:
            row = await tx.session.get(Seal, seal.id)
            if row is not None and row.status != "voided":
                row.certificate_id = info.id
    return info.id


async def deliver_issue(deps: Deps, msg: OutboxMessage) -> None:
    enterprise_id = msg.payload["enterprise_id"]
    if await enterprise_certificate(deps, enterprise_id) is None:
        return  # no longer certified: nothing to issue
    _, seals = await _load(deps, enterprise_id)
    for seal in seals:
        await seal_certificate(deps, seal.id)


# ---------------------------------------------------------------- revoking


async def deliver_revoke(deps: Deps, msg: OutboxMessage) -> None:
    p: dict[str, Any] = msg.payload
    before = datetime.fromisoformat(p["before"])
    async with deps.db.sessions() as session:
        ids = (
            await session.execute(
                select(Certificate.id).where(
                    Certificate.owner_type == p["owner_type"],
                    Certificate.owner_id == p["owner_id"],
                    Certificate.status == "active",
                    Certificate.created_at <= before,
                )
            )
        ).scalars().all()
    for cert_id in ids:
        await service.revoke_certificate(deps, cert_id, reason=p["reason"],
                                         actor_id=p.get("actor_id"),
                                         tenant_id=p.get("enterprise_id"))
    if p["owner_type"] == "enterprise" and ids:
        async with deps.db.transaction() as tx:
            ent = await tx.session.get(Enterprise, p["owner_id"])
            if ent is not None and ent.certificate_id in ids:
                ent.certificate_id = None


# ---------------------------------------------------------------- seal images


def draw_seal(kind: str, enterprise_name: str, seal_name: str, legal_rep_name: str,
              font_path: str, font_index: int) -> bytes:
    """A transparent PNG: round with the name on an arc and a star, or the square 法人章."""
    if kind == "legal_rep":
        return seal_art.legal_rep_seal(legal_rep_name or enterprise_name[:4],
                                       font_path=font_path, font_index=font_index)
    if kind in seal_art.SEAL_KINDS:
        return seal_art.round_seal(enterprise_name, kind, font_path=font_path,
                                   font_index=font_index)
    # a custom seal carries its own name below the star
    return seal_art.round_seal(enterprise_name, "official", label="".join(seal_name.split())[:12],
                               font_path=font_path, font_index=font_index)


async def draw_for(deps: Deps, ent: Enterprise, seal: Seal) -> bytes:
    cfg = deps.config.signing
    return await run_cpu(draw_seal, seal.kind, ent.name, seal.name, ent.legal_rep_name or "",
                         cfg.font_path, cfg.font_index)


async def deliver_seal_images(deps: Deps, msg: OutboxMessage) -> None:
    from core.enterprise.seals import render_pending_seal_images

    await render_pending_seal_images(deps, msg.payload["enterprise_id"])
