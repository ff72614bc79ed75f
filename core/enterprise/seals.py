"""Seals (B2): the three standard seals, custom seals, status, images, grants, usage.

Seal status: enabled ⇄ disabled, either → voided (final: the enterprise's name or credit
code changed, or the legal representative for the 法人章). Grants say which members may
use a seal; voiding a seal ends its grants and revokes its certificate. Certificates and
generated images are outbox jobs (core/enterprise/pki.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.enterprise import pki
from core.enterprise import roles as R
from core.enterprise.common import discard_on_error, log
from core.errors import Conflict, InvalidInput, NotFound
from core.files import MB, check_image, content_type_for, file_store
from core.statemachine import StateMachine
from storage.models import AuditEntry, Enterprise, Member, Seal, SealGrant, SealUsage
from storage.uow import Tx


class SealStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    VOIDED = "voided"


SEAL_SM = StateMachine(
    "seal",
    {
        SealStatus.ENABLED: frozenset({SealStatus.DISABLED, SealStatus.VOIDED}),
        SealStatus.DISABLED: frozenset({SealStatus.ENABLED, SealStatus.VOIDED}),
        SealStatus.VOIDED: frozenset(),
    },
)
STATUS_LABELS = {"enabled": "已启用", "disabled": "已停用", "voided": "已作废"}
KINDS = {"official": "公章", "contract": "合同章", "legal_rep": "法人章", "custom": "自定义章"}
STANDARD_KINDS = ("official", "contract", "legal_rep")
SEAL_IMAGE_MAX_BYTES = 5 * MB


@dataclass(frozen=True)
class SealView:
    id: str
    name: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    image_state: str
    source: str
    auto_sign: bool
    has_certificate: bool
    void_reason: str | None
    grantee_member_ids: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class UsageView:
    at: datetime
    action: str
    actor_id: str | None
    detail: str
    # The audit entry's data (management actions), for the page to pick what to show.
    data: dict[str, Any] = field(default_factory=dict)
    contract_id: str | None = None  # a use on a contract


def _view(seal: Seal, grantees: tuple[str, ...] = ()) -> SealView:
    return SealView(
        seal.id, seal.name, seal.kind, KINDS[seal.kind], seal.status,
        STATUS_LABELS[seal.status], seal.image_state, seal.source, seal.auto_sign,
        seal.certificate_id is not None, seal.void_reason, grantees, seal.created_at,
    )


def _standard_name(ent: Enterprise, kind: str) -> str:
    if kind == "legal_rep":
        return f"{ent.legal_rep_name}印"
    return f"{ent.name}{KINDS[kind]}"


async def ensure_standard_seals(tx: Tx, deps: Deps, ent: Enterprise) -> list[Seal]:
    """Create each standard seal the enterprise does not have (non-voided); images after commit."""
    now = deps.clock.now()
    existing = set(
        (
            await tx.session.execute(
                select(Seal.kind).where(Seal.enterprise_id == ent.id,
                                        Seal.status != SealStatus.VOIDED)
            )
        ).scalars().all()
    )
    created = []
    for kind in STANDARD_KINDS:
        if kind in existing:
            continue
        seal = Seal(enterprise_id=ent.id, name=_standard_name(ent, kind), kind=kind,
                    status=SealStatus.ENABLED, image_state="pending", source="generated",
                    auto_sign=False, created_at=now)
        tx.session.add(seal)
        created.append(seal)
    await tx.session.flush()
    for seal in created:
        await log(tx, deps, "seal.created", actor_id=None, enterprise_id=ent.id,
                  subject_type="seal", subject_id=seal.id,
                  data={"kind": seal.kind, "name": seal.name, "source": "generated"})
    if created:
        await pki.queue_seal_images(tx, deps, ent.id)
    return created


async def render_pending_seal_images(deps: Deps, enterprise_id: str) -> int:
    """Draw images for generated seals still 待生成图片 (the seal.images job)."""
    async with deps.db.sessions() as session:
        ent = await session.get(Enterprise, enterprise_id)
        seals = (
            await session.execute(
                select(Seal).where(Seal.enterprise_id == enterprise_id,
                                   Seal.image_state == "pending",
                                   Seal.status != SealStatus.VOIDED)
            )
        ).scalars().all()
    if ent is None:
        return 0
    done = 0
    for seal in seals:
        png = await pki.draw_for(deps, ent, seal)
        key = await asyncio.to_thread(file_store(deps).put, "seal", png, "png")
        async with deps.db.transaction() as tx:
            row = await tx.session.get(Seal, seal.id)
            if row is not None and row.image_state == "pending":
                row.image_file, row.image_state = key, "ready"
                done += 1
    return done


async def void_seals(tx: Tx, deps: Deps, ent: Enterprise, kinds: set[str] | None, reason: str,
                     actor_id: str | None) -> int:
    now = deps.clock.now()
    query = select(Seal).where(Seal.enterprise_id == ent.id, Seal.status != SealStatus.VOIDED)
    if kinds is not None:
        query = query.where(Seal.kind.in_(kinds))
    seals = (await tx.session.execute(query)).scalars().all()
    for seal in seals:
        SEAL_SM.ensure(seal.status, SealStatus.VOIDED)
        seal.status = SealStatus.VOIDED
        seal.void_reason = reason
        seal.voided_at = now
        seal.auto_sign = False
        grants = (
            await tx.session.execute(
                select(SealGrant).where(SealGrant.seal_id == seal.id,
                                        SealGrant.revoked_at.is_(None))
            )
        ).scalars().all()
        for g in grants:
            g.revoked_at = now
        await pki.queue_revoke(tx, deps, "seal", seal.id, "cessation_of_operation",
                               enterprise_id=ent.id, actor_id=actor_id)
        await log(tx, deps, "seal.voided", actor_id=actor_id, enterprise_id=ent.id,
                  subject_type="seal", subject_id=seal.id,
                  data={"reason": reason, "grants_ended": len(grants)})
    await tx.session.flush()
    return len(seals)


async def _seal(tx: Tx, enterprise_id: str, seal_id: str) -> Seal:
    seal = (
        await tx.session.execute(
            select(Seal).where(Seal.id == seal_id, Seal.enterprise_id == enterprise_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if seal is None:
        raise NotFound("印章不存在", code="seal_not_found")
    return seal


async def _grantees(tx: Tx, enterprise_id: str) -> dict[str, list[str]]:
    rows = (
        await tx.session.execute(
            select(SealGrant.seal_id, SealGrant.member_id).where(
                SealGrant.enterprise_id == enterprise_id, SealGrant.revoked_at.is_(None)
            )
        )
    ).all()
    out: dict[str, list[str]] = {}
    for seal_id, member_id in rows:
        out.setdefault(seal_id, []).append(member_id)
    return out


async def list_seals(deps: Deps, user_id: str, enterprise_id: str) -> list[SealView]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_VIEW)
        seals = (
            await tx.session.execute(
                select(Seal).where(Seal.enterprise_id == enterprise_id)
                .order_by(Seal.status == SealStatus.VOIDED, Seal.created_at)
            )
        ).scalars().all()
        grants = await _grantees(tx, enterprise_id)
        return [_view(s, tuple(grants.get(s.id, ()))) for s in seals]


async def get_seal(deps: Deps, user_id: str, enterprise_id: str, seal_id: str) -> SealView:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_VIEW)
        seal = await _seal(tx, enterprise_id, seal_id)
        grants = await _grantees(tx, enterprise_id)
        return _view(seal, tuple(grants.get(seal.id, ())))


async def seal_image(deps: Deps, user_id: str, enterprise_id: str,
                     seal_id: str) -> tuple[bytes, str]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_VIEW)
        seal = await _seal(tx, enterprise_id, seal_id)
        key = seal.image_file
    if not key:
        raise NotFound("印章图片尚未生成", code="seal_image_pending")
    return await asyncio.to_thread(file_store(deps).get, key), content_type_for(key)


async def _store_seal_image(deps: Deps, data: bytes) -> str:
    image = await check_image(data, SEAL_IMAGE_MAX_BYTES, "印章图片")
    return await asyncio.to_thread(file_store(deps).put, "seal", image.data, image.ext)


async def create_seal(
    deps: Deps, user_id: str, enterprise_id: str, *, name: str, kind: str,
    image: bytes | None, meta: RequestMeta,
) -> SealView:
    """Create by upload (image given) or by generation (image None → drawn by the hook)."""
    name = (name or "").strip()
    if not 2 <= len(name) <= 40:
        raise InvalidInput("印章名称为 2–40 个字", code="invalid_seal_name", field="name")
    if kind not in KINDS:
        raise InvalidInput("请选择印章类型", code="invalid_seal_kind", field="kind")
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_MANAGE)
        ent = await R.load_enterprise(tx, enterprise_id)
        if ent.state != "certified":
            raise Conflict("企业认证完成后才能创建印章", code="not_certified")
    key = await _store_seal_image(deps, image) if image is not None else None
    async with discard_on_error(deps, key), deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_MANAGE)
        seal = Seal(enterprise_id=enterprise_id, name=name, kind=kind,
                    status=SealStatus.ENABLED, image_state="ready" if key else "pending",
                    image_file=key, source="uploaded" if key else "generated",
                    auto_sign=False, created_at=deps.clock.now())
        tx.session.add(seal)
        await tx.session.flush()
        await log(tx, deps, "seal.created", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="seal", subject_id=seal.id,
                  data={"kind": kind, "name": name, "source": seal.source}, meta=meta)
        if key is None:
            await pki.queue_seal_images(tx, deps, enterprise_id)
        await pki.queue_issue(tx, deps, enterprise_id)
        return _view(seal)


async def set_seal_status(
    deps: Deps, user_id: str, enterprise_id: str, seal_id: str, enabled: bool,
    meta: RequestMeta,
) -> SealView:
    target = SealStatus.ENABLED if enabled else SealStatus.DISABLED
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_MANAGE)
        seal = await _seal(tx, enterprise_id, seal_id)
        SEAL_SM.ensure(seal.status, target)
        seal.status = target
        await log(tx, deps, "seal.enabled" if enabled else "seal.disabled", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="seal", subject_id=seal.id,
                  meta=meta)
        return _view(seal)


async def replace_seal_image(
    deps: Deps, user_id: str, enterprise_id: str, seal_id: str, image: bytes,
    meta: RequestMeta,
) -> SealView:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_MANAGE)
        seal = await _seal(tx, enterprise_id, seal_id)
        if seal.status == SealStatus.VOIDED:
            raise Conflict("已作废的印章不能更换图片", code="seal_voided")
    key = await _store_seal_image(deps, image)
    async with discard_on_error(deps, key), deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_MANAGE)
        seal = await _seal(tx, enterprise_id, seal_id)
        if seal.status == SealStatus.VOIDED:  # voided while the image was being stored
            raise Conflict("已作废的印章不能更换图片", code="seal_voided")
        old = seal.image_file
        seal.image_file, seal.image_state, seal.source = key, "ready", "uploaded"
        await log(tx, deps, "seal.image_replaced", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="seal", subject_id=seal.id,
                  data={"previous": old}, meta=meta)
        return _view(seal)


async def set_auto_sign(
    deps: Deps, user_id: str, enterprise_id: str, seal_id: str, on: bool, meta: RequestMeta
) -> SealView:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_MANAGE)
        seal = await _seal(tx, enterprise_id, seal_id)
        if seal.status != SealStatus.ENABLED:
            raise Conflict("仅已启用的印章可以设置自动签署", code="seal_not_enabled")
        seal.auto_sign = on
        await log(tx, deps, "seal.auto_sign_on" if on else "seal.auto_sign_off",
                  actor_id=user_id, enterprise_id=enterprise_id, subject_type="seal",
                  subject_id=seal.id, meta=meta)
        return _view(seal)


async def grant_in_tx(tx: Tx, deps: Deps, actor_id: str, enterprise_id: str, seal_id: str,
                      member_id: str, meta: RequestMeta | None) -> bool:
    """Grant a seal to an active member inside a caller's transaction; False if already."""
    seal = await _seal(tx, enterprise_id, seal_id)
    if seal.status == SealStatus.VOIDED:
        raise Conflict("已作废的印章不能授权", code="seal_voided")
    member = (
        await tx.session.execute(
            select(Member).where(Member.id == member_id, Member.enterprise_id == enterprise_id,
                                 Member.status != "removed")
        )
    ).scalar_one_or_none()
    if member is None:
        raise NotFound("成员不存在", code="member_not_found")
    existing = (
        await tx.session.execute(
            select(SealGrant.id).where(SealGrant.seal_id == seal_id,
                                       SealGrant.member_id == member_id,
                                       SealGrant.revoked_at.is_(None))
        )
    ).scalar_one_or_none()
    if existing:
        return False
    tx.session.add(SealGrant(enterprise_id=enterprise_id, seal_id=seal_id, member_id=member_id,
                             granted_by=actor_id, created_at=deps.clock.now()))
    await tx.session.flush()
    await log(tx, deps, "seal.granted", actor_id=actor_id, enterprise_id=enterprise_id,
              subject_type="seal", subject_id=seal_id, data={"member_id": member_id},
              meta=meta)
    return True


async def grant_seal(deps: Deps, user_id: str, enterprise_id: str, seal_id: str,
                     member_id: str, meta: RequestMeta) -> SealView:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_GRANT)
        await grant_in_tx(tx, deps, user_id, enterprise_id, seal_id, member_id, meta)
        seal = await _seal(tx, enterprise_id, seal_id)
        grants = await _grantees(tx, enterprise_id)
        return _view(seal, tuple(grants.get(seal.id, ())))


async def revoke_seal_grant(deps: Deps, user_id: str, enterprise_id: str, seal_id: str,
                            member_id: str, meta: RequestMeta) -> SealView:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_GRANT)
        seal = await _seal(tx, enterprise_id, seal_id)
        grant = (
            await tx.session.execute(
                select(SealGrant).where(SealGrant.seal_id == seal.id,
                                        SealGrant.enterprise_id == enterprise_id,
                                        SealGrant.member_id == member_id,
                                        SealGrant.revoked_at.is_(None))
            )
        ).scalar_one_or_none()
        if grant is None:
            raise NotFound("该成员没有此印章的授权", code="grant_not_found")
        grant.revoked_at = deps.clock.now()
        await log(tx, deps, "seal.grant_revoked", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="seal", subject_id=seal.id,
                  data={"member_id": member_id}, meta=meta)
        grants = await _grantees(tx, enterprise_id)
        return _view(seal, tuple(grants.get(seal.id, ())))


async def record_seal_use(tx: Tx, deps: Deps, *, enterprise_id: str, seal_id: str,
                          actor_id: str | None, action: str, subject_type: str | None,
                          subject_id: str | None, note: str | None = None) -> None:
    """For the signing flow: one row per use of a seal, in the signing transaction."""
    tx.session.add(SealUsage(enterprise_id=enterprise_id, seal_id=seal_id, actor_id=actor_id,
                             action=action, subject_type=subject_type, subject_id=subject_id,
                             note=note, at=deps.clock.now()))
    await tx.session.flush()


async def member_may_use_seal(tx: Tx, enterprise_id: str, seal_id: str, user_id: str) -> bool:
    """For the signing flow: the seal is enabled and the user holds an active grant."""
    row = (
        await tx.session.execute(
            select(SealGrant.id)
            .join(Seal, Seal.id == SealGrant.seal_id)
            .join(Member, Member.id == SealGrant.member_id)
            .where(SealGrant.enterprise_id == enterprise_id, SealGrant.seal_id == seal_id,
                   SealGrant.revoked_at.is_(None), Seal.status == SealStatus.ENABLED,
                   Member.user_id == user_id, Member.status == "active")
        )
    ).first()
    return row is not None


async def usage_log(deps: Deps, user_id: str, enterprise_id: str,
                    seal_id: str) -> list[UsageView]:
    """Uses of the seal and every management action on it (grants, status, image)."""
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.SEALS_VIEW)
        seal = await _seal(tx, enterprise_id, seal_id)
        uses = (
            await tx.session.execute(
                select(SealUsage).where(SealUsage.seal_id == seal.id,
                                        SealUsage.enterprise_id == enterprise_id)
                .order_by(SealUsage.at.desc()).limit(200)
            )
        ).scalars().all()
        audits = (
            await tx.session.execute(
                select(AuditEntry).where(AuditEntry.tenant_id == enterprise_id,
                                         AuditEntry.subject_type == "seal",
                                         AuditEntry.subject_id == seal.id)
                .order_by(AuditEntry.seq.desc()).limit(200)
            )
        ).scalars().all()
    items = [UsageView(u.at, u.action, u.actor_id,
                       f"{u.subject_type or ''} {u.subject_id or ''} {u.note or ''}".strip(),
                       {"title": u.note} if u.note else {},
                       u.subject_id if u.subject_type == "contract" else None)
             for u in uses]
    items += [UsageView(a.at, a.action, a.actor_id,
                        ", ".join(f"{k}={v}" for k, v in (a.data or {}).items()),
                        dict(a.data or {}))
              for a in audits]
    items.sort(key=lambda u: u.at, reverse=True)
    return items
