"""What the member services share: loading members and roles, checking the roles and
business types a member is given, the certified enterprise."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from core.crypto import mask_phone
from core.enterprise import roles as R
from core.enterprise.members.states import MEMBER_LABELS, MemberView
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from storage.models import (
    BusinessType,
    Enterprise,
    EnterpriseRole,
    Member,
)
from storage.uow import Tx

# ---------------------------------------------------------------- helpers


# Built-in roles in BUILTIN_ROLES order (they share one creation time), then custom ones.
BUILTIN_ORDER = {key: i for i, key in enumerate(R.BUILTIN_ROLES)}


async def roles_of(tx: Tx, enterprise_id: str) -> dict[str, EnterpriseRole]:
    rows = (
        await tx.session.execute(
            select(EnterpriseRole).where(EnterpriseRole.enterprise_id == enterprise_id)
            .order_by(EnterpriseRole.created_at, EnterpriseRole.name)
        )
    ).scalars().all()
    ordered = sorted(rows, key=lambda r: BUILTIN_ORDER.get(r.builtin or "", len(BUILTIN_ORDER)))
    return {r.id: r for r in ordered}


def member_view(m: Member, roles: dict[str, EnterpriseRole], main_admin_id: str | None
                 ) -> MemberView:
    role_ids = tuple(r for r in (m.role_ids or []) if r in roles)
    return MemberView(
        m.id, m.user_id, m.display_name, mask_phone(m.phone), m.status,
        MEMBER_LABELS[m.status], role_ids, tuple(roles[r].name for r in role_ids),
        tuple(m.business_type_ids or ()), m.user_id is not None and m.user_id == main_admin_id,
        m.source, m.created_at,
    )


async def load_member(tx: Tx, enterprise_id: str, member_id: str) -> Member:
    m = (
        await tx.session.execute(
            select(Member).where(Member.id == member_id, Member.enterprise_id == enterprise_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if m is None:
        raise NotFound("成员不存在", code="member_not_found")
    return m


async def check_roles(tx: Tx, actor: R.Actor, enterprise_id: str,
                       role_ids: Sequence[str]) -> list[str]:
    """Only this enterprise's roles; never main_admin; never more than the actor holds."""
    roles = await roles_of(tx, enterprise_id)
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


async def check_business_types(tx: Tx, enterprise_id: str, ids: Sequence[str]) -> list[str]:
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


async def require_certified(tx: Tx, enterprise_id: str) -> Enterprise:
    ent = await R.load_enterprise(tx, enterprise_id)
    if ent.state != "certified" and ent.certified_at is None:
        raise Conflict("企业尚未完成认证", code="not_certified")
    return ent
