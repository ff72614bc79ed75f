"""Join requests (加入企业): search, apply, revoke, decide; approval makes the member."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.crypto import mask_phone
from core.enterprise import roles as R
from core.enterprise.common import log
from core.enterprise.members.common import check_business_types, check_roles, require_certified
from core.enterprise.members.states import (
    JOIN_LABELS,
    JOIN_SM,
    MEMBER_SM,
    EnterpriseHit,
    JoinRequestView,
    JoinState,
    MemberStatus,
)
from core.enterprise.seals import grant_in_tx
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.sms import queue_sms
from storage.models import (
    Enterprise,
    JoinRequest,
    Member,
    User,
)
from storage.uow import Tx

# ---------------------------------------------------------------- join requests


async def search_enterprises(deps: Deps, user_id: str, q: str) -> list[EnterpriseHit]:
    """Certified enterprises only, by name fragment or exact credit code."""
    q = (q or "").strip()
    if len(q) < 2:
        return []
    async with deps.db.sessions() as session:
        rows = (
            await session.execute(
                select(Enterprise).where(
                    Enterprise.state == "certified",
                    Enterprise.name.contains(q, autoescape=True)
                    | (Enterprise.credit_code == q.upper()),
                ).order_by(Enterprise.name).limit(20)
            )
        ).scalars().all()
    return [EnterpriseHit(e.id, e.name, e.credit_code[:4] + "**********" + e.credit_code[-4:])
            for e in rows]


def join_view(j: JoinRequest, ent_name: str, user: User) -> JoinRequestView:
    return JoinRequestView(
        j.id, j.enterprise_id, ent_name, j.user_id, user.real_name, mask_phone(user.phone),
        j.reason, j.state, JOIN_LABELS[j.state], j.reject_reason, j.created_at,
    )


async def request_join(deps: Deps, user_id: str, enterprise_id: str, reason: str,
                       meta: RequestMeta) -> JoinRequestView:
    reason = (reason or "").strip()
    if not 2 <= len(reason) <= 200:
        raise InvalidInput("请填写申请理由（2–200 字）", code="invalid_reason", field="reason")
    async with deps.db.transaction() as tx:
        user = await tx.session.get(User, user_id)
        if user is None:
            raise NotFound("用户不存在", code="user_not_found")
        if user.identity_state != "verified":
            raise PermissionDenied("请先完成个人实名认证", code="identity_required")
        ent = await R.load_enterprise(tx, enterprise_id)
        if ent.state != "certified":
            raise NotFound("企业不存在", code="enterprise_not_found")
        if await R.active_member(tx, user_id, enterprise_id):
            raise Conflict("您已是该企业成员", code="already_member")
        pending = (
            await tx.session.execute(
                select(JoinRequest.id).where(JoinRequest.enterprise_id == enterprise_id,
                                             JoinRequest.user_id == user_id,
                                             JoinRequest.state == JoinState.PENDING)
            )
        ).scalar_one_or_none()
        if pending:
            raise Conflict("您已提交申请，请等待管理员审核", code="join_pending")
        j = JoinRequest(enterprise_id=enterprise_id, user_id=user_id, reason=reason,
                        state=JoinState.PENDING, created_at=deps.clock.now())
        tx.session.add(j)
        await tx.session.flush()
        await log(tx, deps, "join.requested", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="join_request", subject_id=j.id, meta=meta)
        return join_view(j, ent.name, user)


async def revoke_join(deps: Deps, user_id: str, request_id: str,
                      meta: RequestMeta) -> JoinRequestView:
    async with deps.db.transaction() as tx:
        j = (
            await tx.session.execute(
                select(JoinRequest).where(JoinRequest.id == request_id,
                                          JoinRequest.user_id == user_id).with_for_update()
            )
        ).scalar_one_or_none()
        if j is None:
            raise NotFound("申请不存在", code="join_not_found")
        JOIN_SM.ensure(j.state, JoinState.REVOKED)
        j.state = JoinState.REVOKED
        j.decided_at = deps.clock.now()
        await log(tx, deps, "join.revoked", actor_id=user_id, enterprise_id=j.enterprise_id,
                  subject_type="join_request", subject_id=j.id, meta=meta)
        ent = await R.load_enterprise(tx, j.enterprise_id)
        user = await tx.session.get(User, user_id)
        assert user is not None
        return join_view(j, ent.name, user)


async def my_join_requests(deps: Deps, user_id: str) -> list[JoinRequestView]:
    async with deps.db.sessions() as session:
        rows = (
            await session.execute(
                select(JoinRequest, Enterprise.name, User)
                .join(Enterprise, Enterprise.id == JoinRequest.enterprise_id)
                .join(User, User.id == JoinRequest.user_id)
                .where(JoinRequest.user_id == user_id)
                .order_by(JoinRequest.created_at.desc()).limit(50)
            )
        ).all()
    return [join_view(j, name, u) for j, name, u in rows]


async def list_join_requests(deps: Deps, user_id: str, enterprise_id: str,
                             state: str | None = "pending") -> list[JoinRequestView]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.JOIN_REVIEW)
        ent = await R.load_enterprise(tx, enterprise_id)
        query = (
            select(JoinRequest, User).join(User, User.id == JoinRequest.user_id)
            .where(JoinRequest.enterprise_id == enterprise_id)
            .order_by(JoinRequest.created_at.desc()).limit(200)
        )
        if state:
            query = query.where(JoinRequest.state == state)
        rows = (await tx.session.execute(query)).all()
        return [join_view(j, ent.name, u) for j, u in rows]


async def decide_join(
    deps: Deps, user_id: str, enterprise_id: str, request_id: str, *, approve: bool,
    role_ids: Sequence[str] = (), business_type_ids: Sequence[str] = (),
    seal_ids: Sequence[str] = (), reason: str = "", meta: RequestMeta,
) -> JoinRequestView:
    reason = (reason or "").strip()
    async with deps.db.transaction() as tx:
        actor = await R.require_permission(tx, user_id, enterprise_id, R.JOIN_REVIEW)
        ent = await require_certified(tx, enterprise_id)
        j = (
            await tx.session.execute(
                select(JoinRequest).where(JoinRequest.id == request_id,
                                          JoinRequest.enterprise_id == enterprise_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if j is None:
            raise NotFound("申请不存在", code="join_not_found")
        applicant = await tx.session.get(User, j.user_id)
        assert applicant is not None
        now = deps.clock.now()
        if approve:
            JOIN_SM.ensure(j.state, JoinState.APPROVED)
            roles = await check_roles(tx, actor, enterprise_id, role_ids)
            bts = await check_business_types(tx, enterprise_id, business_type_ids)
            if seal_ids and not actor.can(R.SEALS_GRANT):
                raise PermissionDenied("您没有“印章授权”权限", code="permission_denied")
            member = await upsert_member(tx, enterprise_id, applicant, roles, bts, "join",
                                          now, display_name=applicant.real_name)
            for seal_id in dict.fromkeys(seal_ids):
                await grant_in_tx(tx, deps, user_id, enterprise_id, seal_id, member.id, meta)
            j.state = JoinState.APPROVED
            text = f"您加入“{ent.name}”的申请已通过。"
        else:
            JOIN_SM.ensure(j.state, JoinState.REJECTED)
            if not 2 <= len(reason) <= 200:
                raise InvalidInput("请填写驳回原因", code="reason_required", field="reason")
            j.state = JoinState.REJECTED
            j.reject_reason = reason
            text = f"您加入“{ent.name}”的申请未通过，原因：{reason}"
        j.decided_by, j.decided_at = user_id, now
        await log(tx, deps, "join.approved" if approve else "join.rejected", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="join_request", subject_id=j.id,
                  data={"roles": list(role_ids), "seals": list(seal_ids), "reason": reason},
                  meta=meta)
        await queue_sms(tx, deps, applicant.phone, "notice", {"text": text})
        return join_view(j, ent.name, applicant)


async def upsert_member(tx: Tx, enterprise_id: str, user: User, role_ids: list[str],
                         bt_ids: list[str], source: str, now: datetime,
                         display_name: str | None = None) -> Member:
    m = (
        await tx.session.execute(
            select(Member).where(Member.enterprise_id == enterprise_id,
                                 Member.phone == user.phone).with_for_update()
        )
    ).scalar_one_or_none()
    if m is None:
        m = Member(enterprise_id=enterprise_id, phone=user.phone, created_at=now,
                   display_name=display_name or user.real_name or mask_phone(user.phone),
                   source=source, status=MemberStatus.ACTIVE)
        tx.session.add(m)
    else:
        if m.status == MemberStatus.ACTIVE and m.user_id == user.id:
            raise Conflict("该用户已是企业成员", code="already_member")
        MEMBER_SM.ensure(m.status, MemberStatus.ACTIVE)
        m.status = MemberStatus.ACTIVE
        m.removed_at = None
        m.source = source
    m.user_id = user.id
    m.role_ids = list(role_ids)
    m.business_type_ids = list(bt_ids)
    m.activated_at = now
    await tx.session.flush()
    return m
