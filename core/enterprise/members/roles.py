"""Roles and business types of an enterprise."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from core.context import Deps, RequestMeta
from core.enterprise import roles as R
from core.enterprise.common import log
from core.enterprise.members.common import roles_of
from core.enterprise.members.states import BusinessTypeView, MemberStatus, RoleView
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from storage.models import (
    BusinessType,
    EnterpriseRole,
    Member,
)

# ---------------------------------------------------------------- roles


async def list_roles(deps: Deps, user_id: str, enterprise_id: str) -> list[RoleView]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.MEMBERS_VIEW)
        roles = await roles_of(tx, enterprise_id)
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


def clean_perms(permissions: Sequence[str]) -> list[str]:
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
    perms = clean_perms(permissions)
    async with deps.db.transaction() as tx:
        actor = await R.require_permission(tx, user_id, enterprise_id, R.ROLES_MANAGE)
        if not actor.is_main_admin and not set(perms) <= actor.permissions:
            raise PermissionDenied("不能创建超出自己权限的角色", code="role_escalation")
        roles = await roles_of(tx, enterprise_id)
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
        roles = await roles_of(tx, enterprise_id)
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
