"""Members, join requests, roles and business types (B3), and member hand-over.

Join request: pending → approved | rejected | revoked (applicant); after rejected or
revoked the person may apply again. A member added by phone is 未激活 (inactive) until
that phone registers: the accounts service calls `activate_invitations_for`.
Removing a member needs every item they hold (seal grants here; open contracts and, later,
templates through registered hand-over providers) assigned to another active member first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select

from core.context import Deps, RequestMeta
from core.crypto import mask_phone
from core.enterprise import roles as R
from core.enterprise.common import log
from core.enterprise.seals import grant_in_tx
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.sms import queue_sms
from core.statemachine import StateMachine
from core.validators import normalize_phone
from storage.models import (
    BusinessType,
    Enterprise,
    EnterpriseRole,
    JoinRequest,
    Member,
    Seal,
    SealGrant,
    User,
)
from storage.uow import Tx


class JoinState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


JOIN_SM = StateMachine(
    "join_request",
    {
        JoinState.PENDING: frozenset({JoinState.APPROVED, JoinState.REJECTED,
                                      JoinState.REVOKED}),
        JoinState.APPROVED: frozenset(),
        JoinState.REJECTED: frozenset(),
        JoinState.REVOKED: frozenset(),
    },
)
JOIN_LABELS = {"pending": "待审核", "approved": "已通过", "rejected": "已驳回",
               "revoked": "已撤销"}


class MemberStatus(StrEnum):
    INACTIVE = "inactive"
    ACTIVE = "active"
    REMOVED = "removed"


MEMBER_SM = StateMachine(
    "member",
    {
        MemberStatus.INACTIVE: frozenset({MemberStatus.ACTIVE, MemberStatus.REMOVED}),
        MemberStatus.ACTIVE: frozenset({MemberStatus.REMOVED}),
        MemberStatus.REMOVED: frozenset({MemberStatus.ACTIVE, MemberStatus.INACTIVE}),
    },
)
MEMBER_LABELS = {"inactive": "未激活", "active": "已激活", "removed": "已移除"}


# ---------------------------------------------------------------- views


@dataclass(frozen=True)
class MemberView:
    id: str
    user_id: str | None
    display_name: str
    phone_masked: str
    status: str
    status_label: str
    role_ids: tuple[str, ...]
    role_names: tuple[str, ...]
    business_type_ids: tuple[str, ...]
    is_main_admin: bool
    source: str
    created_at: datetime


@dataclass(frozen=True)
class RoleView:
    id: str
    name: str
    builtin: str | None
    permissions: tuple[str, ...]
    member_count: int


@dataclass(frozen=True)
class BusinessTypeView:
    id: str
    name: str


@dataclass(frozen=True)
class JoinRequestView:
    id: str
    enterprise_id: str
    enterprise_name: str
    user_id: str
    applicant_name: str | None
    applicant_phone_masked: str
    reason: str
    state: str
    state_label: str
    reject_reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class MyAccess:
    """What the signed-in member may do here: decides which console pages are offered."""

    permissions: frozenset[str]
    is_main_admin: bool
    enterprise_name: str
    enterprise_state: str

    def can(self, perm: str) -> bool:
        return perm in self.permissions


@dataclass(frozen=True)
class EnterpriseHit:
    id: str
    name: str
    credit_code_masked: str


@dataclass(frozen=True)
class HandoverItem:
    """Something a member holds that must go to someone else before removal."""

    key: str  # "<kind>:<id>", unique per member
    kind: str
    label: str


# Other features register what members hold (templates, contracts):
#   list_items(tx, enterprise_id, member) -> list[HandoverItem]
#   transfer(tx, deps, enterprise_id, item_key, from_member, to_member, actor_id) -> None
@dataclass(frozen=True)
class HandoverProvider:
    kind: str
    list_items: Callable[[Tx, str, Member], Awaitable[list[HandoverItem]]]
    transfer: Callable[[Tx, Deps, str, str, Member, Member, str], Awaitable[None]]




# ---------------------------------------------------------------- helpers


# Built-in roles in BUILTIN_ROLES order (they share one creation time), then custom ones.
_BUILTIN_ORDER = {key: i for i, key in enumerate(R.BUILTIN_ROLES)}


async def _roles(tx: Tx, enterprise_id: str) -> dict[str, EnterpriseRole]:
    rows = (
        await tx.session.execute(
            select(EnterpriseRole).where(EnterpriseRole.enterprise_id == enterprise_id)
            .order_by(EnterpriseRole.created_at, EnterpriseRole.name)
        )
    ).scalars().all()
    ordered = sorted(rows, key=lambda r: _BUILTIN_ORDER.get(r.builtin or "", len(_BUILTIN_ORDER)))
    return {r.id: r for r in ordered}


def _member_view(m: Member, roles: dict[str, EnterpriseRole], main_admin_id: str | None
                 ) -> MemberView:
    role_ids = tuple(r for r in (m.role_ids or []) if r in roles)
    return MemberView(
        m.id, m.user_id, m.display_name, mask_phone(m.phone), m.status,
        MEMBER_LABELS[m.status], role_ids, tuple(roles[r].name for r in role_ids),
        tuple(m.business_type_ids or ()), m.user_id is not None and m.user_id == main_admin_id,
        m.source, m.created_at,
    )


async def _member(tx: Tx, enterprise_id: str, member_id: str) -> Member:
    m = (
        await tx.session.execute(
            select(Member).where(Member.id == member_id, Member.enterprise_id == enterprise_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if m is None:
        raise NotFound("成员不存在", code="member_not_found")
    return m


async def _check_roles(tx: Tx, actor: R.Actor, enterprise_id: str,
                       role_ids: Sequence[str]) -> list[str]:
    """Only this enterprise's roles; never main_admin; never more than the actor holds."""
    roles = await _roles(tx, enterprise_id)
    out: list[str] = []
    for rid in dict.fromkeys(role_ids):
        role = roles.get(rid)
        if role is None:
            raise InvalidInput("角色不存在", code="role_not_found", field="role_ids")
        if role.builtin == "main_admin":
            raise PermissionDenied("主管理员只能通过“更换管理员”转交", code="main_admin_role")
        if not actor.is_main_admin and not set(role.permissions) <= actor.permissions:
            raise PermissionDenied("不能授予超出自己权限的角色", code="role_escalation")
        out.append(rid)
    if not out:
        raise InvalidInput("请至少选择一个角色", code="role_required", field="role_ids")
    return out


async def _check_business_types(tx: Tx, enterprise_id: str, ids: Sequence[str]) -> list[str]:
    known = set(
        (
            await tx.session.execute(
                select(BusinessType.id).where(BusinessType.enterprise_id == enterprise_id)
            )
        ).scalars().all()
    )
    out = list(dict.fromkeys(ids))
    if any(i not in known for i in out):
        raise InvalidInput("业务类型不存在", code="business_type_not_found",
                           field="business_type_ids")
    return out


async def _require_certified(tx: Tx, enterprise_id: str) -> Enterprise:
    ent = await R.load_enterprise(tx, enterprise_id)
    if ent.state != "certified" and ent.certified_at is None:
        raise Conflict("企业尚未完成认证", code="not_certified")
    return ent


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


def _join_view(j: JoinRequest, ent_name: str, user: User) -> JoinRequestView:
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
        return _join_view(j, ent.name, user)


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
        return _join_view(j, ent.name, user)


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
    return [_join_view(j, name, u) for j, name, u in rows]


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
        return [_join_view(j, ent.name, u) for j, u in rows]


async def decide_join(
    deps: Deps, user_id: str, enterprise_id: str, request_id: str, *, approve: bool,
    role_ids: Sequence[str] = (), business_type_ids: Sequence[str] = (),
    seal_ids: Sequence[str] = (), reason: str = "", meta: RequestMeta,
) -> JoinRequestView:
    reason = (reason or "").strip()
    async with deps.db.transaction() as tx:
        actor = await R.require_permission(tx, user_id, enterprise_id, R.JOIN_REVIEW)
        ent = await _require_certified(tx, enterprise_id)
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
            roles = await _check_roles(tx, actor, enterprise_id, role_ids)
            bts = await _check_business_types(tx, enterprise_id, business_type_ids)
            if seal_ids and not actor.can(R.SEALS_GRANT):
                raise PermissionDenied("您没有“印章授权”权限", code="permission_denied")
            member = await _upsert_member(tx, enterprise_id, applicant, roles, bts, "join",
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
        return _join_view(j, ent.name, applicant)


async def _upsert_member(tx: Tx, enterprise_id: str, user: User, role_ids: list[str],
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


# ---------------------------------------------------------------- members


async def my_access(deps: Deps, user_id: str, enterprise_id: str) -> MyAccess:
    """The caller's effective permissions in the enterprise (NotFound for outsiders), with
    what every console page's header shows: one light query set, not the dashboard's."""
    async with deps.db.transaction() as tx:
        actor = await R.actor_for(tx, user_id, enterprise_id)
        ent = await R.load_enterprise(tx, enterprise_id)
    return MyAccess(actor.permissions, actor.is_main_admin, ent.name, ent.state)


async def list_members(deps: Deps, user_id: str, enterprise_id: str,
                       include_removed: bool = False) -> list[MemberView]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.MEMBERS_VIEW)
        ent = await R.load_enterprise(tx, enterprise_id)
        roles = await _roles(tx, enterprise_id)
        query = select(Member).where(Member.enterprise_id == enterprise_id) \
            .order_by(Member.created_at)
        if not include_removed:
            query = query.where(Member.status != MemberStatus.REMOVED)
        rows = (await tx.session.execute(query)).scalars().all()
        return [_member_view(m, roles, ent.main_admin_id) for m in rows]


async def add_member(
    deps: Deps, user_id: str, enterprise_id: str, *, phone: str, name: str,
    role_ids: Sequence[str], business_type_ids: Sequence[str] = (), meta: RequestMeta,
) -> MemberView:
    """Add by phone: active at once when registered, else 未激活 and invited by SMS."""
    phone = normalize_phone(phone)
    name = (name or "").strip()
    if not 1 <= len(name) <= 40:
        raise InvalidInput("请填写成员姓名", code="invalid_name", field="name")
    async with deps.db.transaction() as tx:
        actor = await R.require_permission(tx, user_id, enterprise_id, R.MEMBERS_MANAGE)
        ent = await _require_certified(tx, enterprise_id)
        roles = await _check_roles(tx, actor, enterprise_id, role_ids)
        bts = await _check_business_types(tx, enterprise_id, business_type_ids)
        now = deps.clock.now()
        user = (
            await tx.session.execute(select(User).where(User.phone == phone))
        ).scalar_one_or_none()
        if user is not None and user.status == "active":
            m = await _upsert_member(tx, enterprise_id, user, roles, bts, "invite", now,
                                     display_name=name)
            text = f"您已被添加为“{ent.name}”的成员，登录后即可进入企业控制台。"
        else:
            found = (
                await tx.session.execute(
                    select(Member).where(Member.enterprise_id == enterprise_id,
                                         Member.phone == phone).with_for_update()
                )
            ).scalar_one_or_none()
            if found is not None and found.status != MemberStatus.REMOVED:
                raise Conflict("该手机号已在成员列表中", code="already_member", field="phone")
            if found is None:
                m = Member(enterprise_id=enterprise_id, phone=phone, created_at=now,
                           source="invite", status=MemberStatus.INACTIVE)
                tx.session.add(m)
            else:
                m = found
                MEMBER_SM.ensure(m.status, MemberStatus.INACTIVE)
                m.status, m.removed_at, m.user_id = MemberStatus.INACTIVE, None, None
            m.display_name, m.role_ids, m.business_type_ids = name, roles, bts
            await tx.session.flush()
            link = deps.config.server.base_url.rstrip("/") + "/register"
            text = f"“{ent.name}”邀请您加入企业，请在 {link} 用本手机号注册后使用。"
        await log(tx, deps, "member.added", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="member", subject_id=m.id,
                  data={"phone": mask_phone(phone), "status": m.status, "roles": roles},
                  meta=meta)
        await queue_sms(tx, deps, phone, "notice", {"text": text})
        return _member_view(m, await _roles(tx, enterprise_id), ent.main_admin_id)


async def activate_invitations_for(tx: Tx, deps: Deps, user_id: str, phone: str) -> int:
    """Call from registration (same transaction): invited memberships of this phone activate."""
    rows = (
        await tx.session.execute(
            select(Member).where(Member.phone == phone, Member.status == MemberStatus.INACTIVE)
            .with_for_update()
        )
    ).scalars().all()
    now = deps.clock.now()
    for m in rows:
        MEMBER_SM.ensure(m.status, MemberStatus.ACTIVE)
        m.status, m.user_id, m.activated_at = MemberStatus.ACTIVE, user_id, now
        await log(tx, deps, "member.activated", actor_id=user_id, enterprise_id=m.enterprise_id,
                  subject_type="member", subject_id=m.id)
    await tx.session.flush()
    return len(rows)


async def update_member(
    deps: Deps, user_id: str, enterprise_id: str, member_id: str, *,
    role_ids: Sequence[str], business_type_ids: Sequence[str], display_name: str | None = None,
    meta: RequestMeta,
) -> MemberView:
    async with deps.db.transaction() as tx:
        actor = await R.require_permission(tx, user_id, enterprise_id, R.MEMBERS_MANAGE)
        ent = await R.load_enterprise(tx, enterprise_id)
        m = await _member(tx, enterprise_id, member_id)
        if m.status == MemberStatus.REMOVED:
            raise Conflict("该成员已移除", code="member_removed")
        if m.user_id and m.user_id == ent.main_admin_id:
            raise PermissionDenied("主管理员的权限不能修改", code="main_admin_protected")
        if m.user_id == user_id and not actor.is_main_admin:
            raise PermissionDenied("不能修改自己的角色", code="self_edit")
        roles = await _check_roles(tx, actor, enterprise_id, role_ids)
        m.role_ids = roles
        m.business_type_ids = await _check_business_types(tx, enterprise_id, business_type_ids)
        if display_name is not None and display_name.strip():
            m.display_name = display_name.strip()[:40]
        await log(tx, deps, "member.updated", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="member", subject_id=m.id,
                  data={"roles": roles, "business_types": m.business_type_ids}, meta=meta)
        return _member_view(m, await _roles(tx, enterprise_id), ent.main_admin_id)


async def _seal_grant_items(tx: Tx, enterprise_id: str, member: Member) -> list[HandoverItem]:
    rows = (
        await tx.session.execute(
            select(SealGrant.seal_id, Seal.name).join(Seal, Seal.id == SealGrant.seal_id)
            .where(SealGrant.enterprise_id == enterprise_id, SealGrant.member_id == member.id,
                   SealGrant.revoked_at.is_(None))
        )
    ).all()
    return [HandoverItem(f"seal:{sid}", "seal", f"印章授权：{name}") for sid, name in rows]


async def _items(tx: Tx, deps: Deps, enterprise_id: str, member: Member
                 ) -> list[HandoverItem]:
    items = await _seal_grant_items(tx, enterprise_id, member)
    for provider in deps.handover:
        items += await provider.list_items(tx, enterprise_id, member)
    return items


async def handover_items(deps: Deps, user_id: str, enterprise_id: str,
                         member_id: str) -> list[HandoverItem]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.MEMBERS_MANAGE)
        m = await _member(tx, enterprise_id, member_id)
        return await _items(tx, deps, enterprise_id, m)


async def transfer_items(tx: Tx, deps: Deps, actor_id: str, enterprise_id: str,
                         source: Member, assignments: dict[str, str],
                         meta: RequestMeta | None) -> int:
    """Move each assigned item from `source` to its target member (in the caller's tx)."""
    items = {i.key: i for i in await _items(tx, deps, enterprise_id, source)}
    now = deps.clock.now()
    moved = 0
    for key, target_id in assignments.items():
        item = items.get(key)
        if item is None:
            raise InvalidInput("转交项目不存在", code="handover_item_not_found")
        target = await _member(tx, enterprise_id, target_id)
        if target.id == source.id or target.status != MemberStatus.ACTIVE:
            raise InvalidInput("请选择其他已激活的成员作为接手人", code="invalid_handover_target")
        if item.kind == "seal":
            seal_id = key.split(":", 1)[1]
            await grant_in_tx(tx, deps, actor_id, enterprise_id, seal_id, target.id, meta)
            grant = (
                await tx.session.execute(
                    select(SealGrant).where(SealGrant.seal_id == seal_id,
                                            SealGrant.member_id == source.id,
                                            SealGrant.revoked_at.is_(None))
                )
            ).scalar_one()
            grant.revoked_at = now
        else:
            provider = next(p for p in deps.handover if p.kind == item.kind)
            await provider.transfer(tx, deps, enterprise_id, key, source, target, actor_id)
        await log(tx, deps, "member.handover", actor_id=actor_id, enterprise_id=enterprise_id,
                  subject_type="member", subject_id=source.id,
                  data={"item": key, "to_member": target.id}, meta=meta)
        moved += 1
    await tx.session.flush()
    return moved


async def remove_member(
    deps: Deps, user_id: str, enterprise_id: str, member_id: str, *,
    assignments: dict[str, str], meta: RequestMeta,
) -> MemberView:
    """Remove after every item is assigned (一键转交: the same target for all items)."""
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.MEMBERS_MANAGE)
        ent = await R.load_enterprise(tx, enterprise_id)
        m = await _member(tx, enterprise_id, member_id)
        if m.user_id and m.user_id == ent.main_admin_id:
            raise PermissionDenied("主管理员不能被移除，请先更换管理员",
                                   code="main_admin_protected")
        if m.user_id == user_id:
            raise PermissionDenied("不能移除自己", code="self_remove")
        MEMBER_SM.ensure(m.status, MemberStatus.REMOVED)
        items = await _items(tx, deps, enterprise_id, m)
        missing = [i.label for i in items if i.key not in assignments]
        if missing:
            raise Conflict("请先为以下项目选择接手人：" + "、".join(missing[:5]),
                           code="handover_required")
        await transfer_items(tx, deps, user_id, enterprise_id, m, assignments, meta)
        m.status = MemberStatus.REMOVED
        m.removed_at = deps.clock.now()
        await log(tx, deps, "member.removed", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="member", subject_id=m.id,
                  data={"handed_over": len(assignments)}, meta=meta)
        return _member_view(m, await _roles(tx, enterprise_id), ent.main_admin_id)


# ---------------------------------------------------------------- roles


async def list_roles(deps: Deps, user_id: str, enterprise_id: str) -> list[RoleView]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.MEMBERS_VIEW)
        roles = await _roles(tx, enterprise_id)
        members = (
            await tx.session.execute(
                select(Member.role_ids).where(Member.enterprise_id == enterprise_id,
                                              Member.status != MemberStatus.REMOVED)
            )
        ).scalars().all()
        counts: dict[str, int] = {}
        for ids in members:
            for rid in ids or []:
                counts[rid] = counts.get(rid, 0) + 1
        return [RoleView(r.id, r.name, r.builtin, tuple(sorted(r.permissions)),
                         counts.get(r.id, 0)) for r in roles.values()]


def _clean_perms(permissions: Sequence[str]) -> list[str]:
    perms = sorted(set(permissions))
    if not perms or any(p not in R.PERMISSIONS for p in perms):
        raise InvalidInput("请选择有效的权限", code="invalid_permissions", field="permissions")
    return perms


async def save_role(
    deps: Deps, user_id: str, enterprise_id: str, *, role_id: str | None, name: str,
    permissions: Sequence[str], meta: RequestMeta,
) -> RoleView:
    """Create (role_id None) or edit a custom role. Built-in roles are fixed."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 20:
        raise InvalidInput("角色名称为 1–20 个字", code="invalid_role_name", field="name")
    perms = _clean_perms(permissions)
    async with deps.db.transaction() as tx:
        actor = await R.require_permission(tx, user_id, enterprise_id, R.ROLES_MANAGE)
        if not actor.is_main_admin and not set(perms) <= actor.permissions:
            raise PermissionDenied("不能创建超出自己权限的角色", code="role_escalation")
        roles = await _roles(tx, enterprise_id)
        if any(r.name == name and r.id != role_id for r in roles.values()):
            raise Conflict("角色名称已存在", code="role_name_taken", field="name")
        if role_id is None:
            role = EnterpriseRole(enterprise_id=enterprise_id, name=name, builtin=None,
                                  permissions=perms, created_at=deps.clock.now())
            tx.session.add(role)
            await tx.session.flush()
            action = "role.created"
        else:
            found = roles.get(role_id)
            if found is None:
                raise NotFound("角色不存在", code="role_not_found")
            if found.builtin:
                raise Conflict("系统内置角色不能修改", code="builtin_role")
            role = found
            role.name, role.permissions = name, perms
            action = "role.updated"
        await log(tx, deps, action, actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="role", subject_id=role.id,
                  data={"name": name, "permissions": perms}, meta=meta)
        return RoleView(role.id, role.name, role.builtin, tuple(perms), 0)


async def delete_role(deps: Deps, user_id: str, enterprise_id: str, role_id: str,
                      meta: RequestMeta) -> None:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ROLES_MANAGE)
        roles = await _roles(tx, enterprise_id)
        role = roles.get(role_id)
        if role is None:
            raise NotFound("角色不存在", code="role_not_found")
        if role.builtin:
            raise Conflict("系统内置角色不能删除", code="builtin_role")
        members = (
            await tx.session.execute(
                select(Member.role_ids).where(Member.enterprise_id == enterprise_id,
                                              Member.status != MemberStatus.REMOVED)
            )
        ).scalars().all()
        if any(role_id in (ids or []) for ids in members):
            raise Conflict("仍有成员使用该角色，请先调整成员角色", code="role_in_use")
        await tx.session.delete(role)
        await log(tx, deps, "role.deleted", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="role", subject_id=role_id, data={"name": role.name}, meta=meta)


# ---------------------------------------------------------------- business types


async def list_business_types(deps: Deps, user_id: str,
                              enterprise_id: str) -> list[BusinessTypeView]:
    async with deps.db.transaction() as tx:
        await R.actor_for(tx, user_id, enterprise_id)
        rows = (
            await tx.session.execute(
                select(BusinessType).where(BusinessType.enterprise_id == enterprise_id)
                .order_by(BusinessType.created_at, BusinessType.name)
            )
        ).scalars().all()
        # The defaults share one creation time: keep their documented order.
        defaults = {name: i for i, name in enumerate(R.DEFAULT_BUSINESS_TYPES)}
        rows = sorted(rows, key=lambda b: (b.created_at, defaults.get(b.name, len(defaults))))
        return [BusinessTypeView(b.id, b.name) for b in rows]


async def add_business_type(deps: Deps, user_id: str, enterprise_id: str, name: str,
                            meta: RequestMeta) -> BusinessTypeView:
    name = (name or "").strip()
    if not 2 <= len(name) <= 20:
        raise InvalidInput("业务类型名称为 2–20 个字", code="invalid_name", field="name")
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ROLES_MANAGE)
        count = (
            await tx.session.execute(
                select(func.count()).select_from(BusinessType).where(
                    BusinessType.enterprise_id == enterprise_id, BusinessType.name == name)
            )
        ).scalar_one()
        if count:
            raise Conflict("业务类型已存在", code="business_type_exists", field="name")
        bt = BusinessType(enterprise_id=enterprise_id, name=name, created_at=deps.clock.now())
        tx.session.add(bt)
        await tx.session.flush()
        await log(tx, deps, "business_type.created", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="business_type", subject_id=bt.id,
                  data={"name": name}, meta=meta)
        return BusinessTypeView(bt.id, bt.name)
