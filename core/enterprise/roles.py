"""Permissions, built-in roles, and the one check every console service starts with.

`require_permission` resolves the actor's active membership in the enterprise and the
union of their roles' permissions; services call it before touching tenant data, so a
hidden button is never the only guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core.errors import NotFound, PermissionDenied
from storage.models import BusinessType, Enterprise, EnterpriseRole, Member, PlatformOperator
from storage.uow import Tx

# Console permissions. Contract/template permissions are declared here so roles can
# carry them; the contracts feature enforces them.
ENTERPRISE_VIEW = "enterprise.view"
ENTERPRISE_MANAGE = "enterprise.manage"
MEMBERS_VIEW = "members.view"
MEMBERS_MANAGE = "members.manage"
JOIN_REVIEW = "join.review"
ROLES_MANAGE = "roles.manage"
SEALS_VIEW = "seals.view"
SEALS_MANAGE = "seals.manage"
SEALS_GRANT = "seals.grant"
EMPLOYEES_VIEW = "employees.view"
EMPLOYEES_MANAGE = "employees.manage"
EMPLOYEES_REVIEW = "employees.review"
DEPARTMENTS_MANAGE = "departments.manage"
AUDIT_VIEW = "audit.view"
TEMPLATES_MANAGE = "templates.manage"
CONTRACTS_SEND = "contracts.send"
CONTRACTS_VIEW = "contracts.view"
CONTRACTS_ARCHIVE = "contracts.archive"

PERMISSIONS: dict[str, str] = {
    ENTERPRISE_VIEW: "查看企业概况",
    ENTERPRISE_MANAGE: "管理企业信息",
    MEMBERS_VIEW: "查看成员",
    MEMBERS_MANAGE: "管理成员",
    JOIN_REVIEW: "审核加入申请",
    ROLES_MANAGE: "管理角色",
    SEALS_VIEW: "查看印章",
    SEALS_MANAGE: "管理印章",
    SEALS_GRANT: "印章授权",
    EMPLOYEES_VIEW: "查看员工",
    EMPLOYEES_MANAGE: "管理员工",
    EMPLOYEES_REVIEW: "审核入职",
    DEPARTMENTS_MANAGE: "管理部门",
    AUDIT_VIEW: "查看日志",
    TEMPLATES_MANAGE: "管理模板",
    CONTRACTS_SEND: "发起合同",
    CONTRACTS_VIEW: "查看合同",
    CONTRACTS_ARCHIVE: "纸质合同归档",
}

ALL = frozenset(PERMISSIONS)

# Built-in roles: key → (name, permissions). Only the main admin may change the admin.
BUILTIN_ROLES: dict[str, tuple[str, frozenset[str]]] = {
    "main_admin": ("主管理员", ALL),
    "admin": ("管理员", ALL),
    "hr": ("HR", frozenset({
        ENTERPRISE_VIEW, MEMBERS_VIEW, SEALS_VIEW, EMPLOYEES_VIEW, EMPLOYEES_MANAGE,
        EMPLOYEES_REVIEW, DEPARTMENTS_MANAGE, TEMPLATES_MANAGE, CONTRACTS_SEND,
        CONTRACTS_VIEW, CONTRACTS_ARCHIVE,
    })),
    "legal": ("法务", frozenset({
        ENTERPRISE_VIEW, MEMBERS_VIEW, SEALS_VIEW, AUDIT_VIEW, TEMPLATES_MANAGE,
        CONTRACTS_VIEW,
    })),
    "employee": ("员工", frozenset({ENTERPRISE_VIEW})),
}
DEFAULT_BUSINESS_TYPES = ("劳动合同", "劳务派遣合同", "保密协议", "实习协议", "劳务合同", "其他")


def sort_business_types(rows: list[BusinessType]) -> list[BusinessType]:
    """Oldest first; the defaults share one creation time, so they keep their listed order."""
    defaults = {name: i for i, name in enumerate(DEFAULT_BUSINESS_TYPES)}
    return sorted(rows, key=lambda b: (b.created_at, defaults.get(b.name, len(defaults)),
                                       b.name))


@dataclass(frozen=True)
class Actor:
    """An active member acting in one enterprise, with their effective permissions."""

    user_id: str
    enterprise_id: str
    member_id: str
    permissions: frozenset[str]
    is_main_admin: bool
    business_type_ids: tuple[str, ...]

    def can(self, perm: str) -> bool:
        return perm in self.permissions

    @property
    def type_limited(self) -> bool:
        """Limited to some business types: a member (not the main admin) given any.
        A member given none is not limited."""
        return not self.is_main_admin and bool(self.business_type_ids)

    def sees_type(self, business_type_id: str | None) -> bool:
        return not self.type_limited or business_type_id in self.business_type_ids


async def load_enterprise(tx: Tx, enterprise_id: str, *, lock: bool = False) -> Enterprise:
    query = select(Enterprise).where(Enterprise.id == enterprise_id)
    if lock:
        query = query.with_for_update()
    ent = (await tx.session.execute(query)).scalar_one_or_none()
    if ent is None:
        raise NotFound("企业不存在", code="enterprise_not_found")
    return ent


async def active_member(tx: Tx, user_id: str, enterprise_id: str) -> Member | None:
    return (
        await tx.session.execute(
            select(Member).where(
                Member.enterprise_id == enterprise_id,
                Member.user_id == user_id,
                Member.status == "active",
            )
        )
    ).scalar_one_or_none()


async def role_permissions(tx: Tx, enterprise_id: str, role_ids: list[str]) -> frozenset[str]:
    if not role_ids:
        return frozenset()
    rows = (
        await tx.session.execute(
            select(EnterpriseRole.permissions).where(
                EnterpriseRole.enterprise_id == enterprise_id,
                EnterpriseRole.id.in_(role_ids),
            )
        )
    ).scalars().all()
    return frozenset(p for perms in rows for p in perms if p in PERMISSIONS)


async def actor_for(tx: Tx, user_id: str, enterprise_id: str) -> Actor:
    """The actor's membership; NotFound (not 403) for outsiders so ids reveal nothing."""
    ent = await load_enterprise(tx, enterprise_id)
    member = await active_member(tx, user_id, enterprise_id)
    if member is None:
        raise NotFound("企业不存在或您不是该企业成员", code="enterprise_not_found")
    is_main = ent.main_admin_id == user_id
    perms = ALL if is_main else await role_permissions(tx, enterprise_id, member.role_ids)
    return Actor(user_id, enterprise_id, member.id, perms, is_main,
                 tuple(member.business_type_ids or ()))


async def require_permission(tx: Tx, user_id: str, enterprise_id: str, perm: str) -> Actor:
    actor = await actor_for(tx, user_id, enterprise_id)
    if not actor.can(perm):
        raise PermissionDenied(f"您没有“{PERMISSIONS[perm]}”权限", code="permission_denied")
    return actor


async def require_main_admin(tx: Tx, user_id: str, enterprise_id: str) -> Actor:
    actor = await actor_for(tx, user_id, enterprise_id)
    if not actor.is_main_admin:
        raise PermissionDenied("仅主管理员可执行此操作", code="main_admin_only")
    return actor


async def is_operator(tx: Tx, user_id: str) -> bool:
    return await tx.session.get(PlatformOperator, user_id) is not None


async def require_operator(tx: Tx, user_id: str) -> None:
    if not await is_operator(tx, user_id):
        raise PermissionDenied("仅平台运营人员可执行此操作", code="operator_only")


async def create_builtin_roles(tx: Tx, enterprise_id: str, now: datetime) -> dict[str, str]:
    """Built-in roles for a new enterprise; returns builtin key → role id."""
    ids: dict[str, str] = {}
    for key, (name, perms) in BUILTIN_ROLES.items():
        role = EnterpriseRole(enterprise_id=enterprise_id, name=name, builtin=key,
                              permissions=sorted(perms), created_at=now)
        tx.session.add(role)
        await tx.session.flush()
        ids[key] = role.id
    return ids


async def builtin_role_id(tx: Tx, enterprise_id: str, key: str) -> str:
    role_id = (
        await tx.session.execute(
            select(EnterpriseRole.id).where(
                EnterpriseRole.enterprise_id == enterprise_id, EnterpriseRole.builtin == key
            )
        )
    ).scalar_one_or_none()
    if role_id is None:
        raise NotFound("角色不存在", code="role_not_found")
    return role_id
