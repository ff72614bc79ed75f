"""Members: my access, the list, adding by phone (an invitation until that phone
registers), editing and removing after hand-over."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from core.context import Deps, RequestMeta
from core.crypto import mask_phone
from core.enterprise import roles as R
from core.enterprise.common import log
from core.enterprise.members.common import (
    check_business_types,
    check_roles,
    load_member,
    member_view,
    require_certified,
    roles_of,
)
from core.enterprise.members.handover import handover_items_of, transfer_items
from core.enterprise.members.join_requests import upsert_member
from core.enterprise.members.states import MEMBER_SM, MemberStatus, MemberView, MyAccess
from core.errors import Conflict, InvalidInput, PermissionDenied
from core.sms import queue_sms
from core.validators import normalize_phone
from storage.models import (
    Member,
    User,
)
from storage.uow import Tx

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
        roles = await roles_of(tx, enterprise_id)
        query = select(Member).where(Member.enterprise_id == enterprise_id) \
            .order_by(Member.created_at)
        if not include_removed:
            query = query.where(Member.status != MemberStatus.REMOVED)
        rows = (await tx.session.execute(query)).scalars().all()
        return [member_view(m, roles, ent.main_admin_id) for m in rows]


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
        ent = await require_certified(tx, enterprise_id)
        roles = await check_roles(tx, actor, enterprise_id, role_ids)
        bts = await check_business_types(tx, enterprise_id, business_type_ids)
        now = deps.clock.now()
        user = (
            await tx.session.execute(select(User).where(User.phone == phone))
        ).scalar_one_or_none()
        if user is not None and user.status == "active":
            m = await upsert_member(tx, enterprise_id, user, roles, bts, "invite", now,
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
        return member_view(m, await roles_of(tx, enterprise_id), ent.main_admin_id)


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
        m = await load_member(tx, enterprise_id, member_id)
        if m.status == MemberStatus.REMOVED:
            raise Conflict("该成员已移除", code="member_removed")
        if m.user_id and m.user_id == ent.main_admin_id:
            raise PermissionDenied("主管理员的权限不能修改", code="main_admin_protected")
        if m.user_id == user_id and not actor.is_main_admin:
            raise PermissionDenied("不能修改自己的角色", code="self_edit")
        roles = await check_roles(tx, actor, enterprise_id, role_ids)
        m.role_ids = roles
        m.business_type_ids = await check_business_types(tx, enterprise_id, business_type_ids)
        if display_name is not None and display_name.strip():
            m.display_name = display_name.strip()[:40]
        await log(tx, deps, "member.updated", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="member", subject_id=m.id,
                  data={"roles": roles, "business_types": m.business_type_ids}, meta=meta)
        return member_view(m, await roles_of(tx, enterprise_id), ent.main_admin_id)



async def remove_member(
    deps: Deps, user_id: str, enterprise_id: str, member_id: str, *,
    assignments: dict[str, str], meta: RequestMeta,
) -> MemberView:
    """Remove after every item is assigned (一键转交: the same target for all items)."""
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.MEMBERS_MANAGE)
        ent = await R.load_enterprise(tx, enterprise_id)
        m = await load_member(tx, enterprise_id, member_id)
        if m.user_id and m.user_id == ent.main_admin_id:
            raise PermissionDenied("主管理员不能被移除，请先更换管理员",
                                   code="main_admin_protected")
        if m.user_id == user_id:
            raise PermissionDenied("不能移除自己", code="self_remove")
        MEMBER_SM.ensure(m.status, MemberStatus.REMOVED)
        items = await handover_items_of(tx, deps, enterprise_id, m)
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
        return member_view(m, await roles_of(tx, enterprise_id), ent.main_admin_id)
