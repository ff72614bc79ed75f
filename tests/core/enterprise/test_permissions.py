"""Permission matrix (each built-in role × each console action) and tenant isolation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from core.enterprise import admin_change as A
from core.enterprise import certification as cert
from core.enterprise import dashboard as D
from core.enterprise import departments as DP
from core.enterprise import employees as E
from core.enterprise import members as M
from core.enterprise import onboarding_qr as OQ
from core.enterprise import seals as S
from core.errors import NotFound, PermissionDenied
from tests.enterprise_factories import META, certified_enterprise, make_user, new_phone

Action = Callable[[Any, str, str, dict[str, str]], Awaitable[object]]

ACTIONS: dict[str, Action] = {
    "dashboard": lambda d, u, e, x: D.dashboard(d, u, e),
    "list_members": lambda d, u, e, x: M.list_members(d, u, e),
    "add_member": lambda d, u, e, x: M.add_member(
        d, u, e, phone=new_phone(), name="测试", role_ids=[x["employee_role"]], meta=META),
    "review_joins": lambda d, u, e, x: M.list_join_requests(d, u, e),
    "save_role": lambda d, u, e, x: M.save_role(
        d, u, e, role_id=None, name=f"r{new_phone()[-4:]}", permissions=["seals.view"],
        meta=META),
    "list_seals": lambda d, u, e, x: S.list_seals(d, u, e),
    "auto_sign": lambda d, u, e, x: S.set_auto_sign(d, u, e, x["seal"], True, META),
    "grant_seal": lambda d, u, e, x: S.grant_seal(d, u, e, x["seal"], x["admin_member"], META),
    "list_employees": lambda d, u, e, x: E.list_employees(d, u, e),
    "onboard": lambda d, u, e, x: E.onboard_employee(
        d, u, e, {"name": "员工甲", "phone": new_phone()}, META),
    "add_department": lambda d, u, e, x: DP.add_department(
        d, u, e, f"部门{new_phone()[-4:]}", None, META),
    "audit_log": lambda d, u, e, x: D.audit_log(d, u, e),
    "change_info": lambda d, u, e, x: cert.change_enterprise_info(
        d, u, e, address="上海市浦东新区世纪大道 100 号", meta=META),
    "transfer_admin_code": lambda d, u, e, x: A.send_transfer_code(d, u, e, META),
    "onboarding_poster": lambda d, u, e, x: OQ.onboarding_poster(d, u, e, META),
    "reset_onboarding_poster": lambda d, u, e, x: OQ.reset_onboarding_poster(d, u, e, META),
}

# Which built-in roles may run each action (the main admin may run every one).
ALLOWED: dict[str, set[str]] = {
    "dashboard": {"admin", "hr", "legal", "employee"},
    "list_members": {"admin", "hr", "legal"},
    "add_member": {"admin"},
    "review_joins": {"admin"},
    "save_role": {"admin"},
    "list_seals": {"admin", "hr", "legal"},
    "auto_sign": {"admin"},
    "grant_seal": {"admin"},
    "list_employees": {"admin", "hr"},
    "onboard": {"admin", "hr"},
    "add_department": {"admin", "hr"},
    "audit_log": {"admin", "legal"},
    "change_info": set(),
    "transfer_admin_code": set(),
    "onboarding_poster": {"admin", "hr"},
    "reset_onboarding_poster": {"admin", "hr"},
}
ROLES = ("main_admin", "admin", "hr", "legal", "employee")


@pytest.fixture
async def world(deps) -> dict[str, str]:
    ent, admin = await certified_enterprise(deps)
    roles = {r.builtin: r.id for r in await M.list_roles(deps, admin, ent)}
    users = {"main_admin": admin}
    for key in ("admin", "hr", "legal", "employee"):
        user = await make_user(deps)
        req = await M.request_join(deps, user, ent, "加入", META)
        await M.decide_join(deps, admin, ent, req.id, approve=True, role_ids=[roles[key]],
                            meta=META)
        users[key] = user
    seal = (await S.list_seals(deps, admin, ent))[0].id
    admin_member = next(m.id for m in await M.list_members(deps, admin, ent)
                        if m.user_id == admin)
    return {"ent": ent, "seal": seal, "admin_member": admin_member,
            "employee_role": roles["employee"], **{f"user_{k}": v for k, v in users.items()}}


@pytest.mark.parametrize("action", sorted(ACTIONS))
async def test_permission_matrix(deps, world, action: str) -> None:
    for role in ROLES:
        allowed = role == "main_admin" or role in ALLOWED[action]
        call = ACTIONS[action](deps, world[f"user_{role}"], world["ent"], world)
        if allowed:
            await call
        else:
            with pytest.raises(PermissionDenied):
                await call


@pytest.mark.parametrize("action", sorted(ACTIONS))
async def test_member_of_a_cannot_act_on_b(deps, world, action: str) -> None:
    other_ent, other_admin = await certified_enterprise(deps, name="另一家有限公司")
    extra = dict(world)
    extra["seal"] = (await S.list_seals(deps, other_admin, other_ent))[0].id
    with pytest.raises(NotFound):
        await ACTIONS[action](deps, world["user_main_admin"], other_ent, extra)


async def test_seal_of_b_is_not_reachable_through_a(deps, world) -> None:
    other_ent, other_admin = await certified_enterprise(deps, name="另一家有限公司")
    seal_b = (await S.list_seals(deps, other_admin, other_ent))[0].id
    with pytest.raises(NotFound):
        await S.set_seal_status(deps, world["user_main_admin"], world["ent"], seal_b, False,
                                META)


async def test_employee_of_b_is_not_reachable_through_a(deps, world) -> None:
    other_ent, other_admin = await certified_enterprise(deps, name="另一家有限公司")
    emp = await E.onboard_employee(deps, other_admin, other_ent,
                                   {"name": "员工乙", "phone": new_phone()}, META)
    with pytest.raises(NotFound):
        await E.get_employee(deps, world["user_main_admin"], world["ent"], emp.id)
    with pytest.raises(NotFound):
        await E.resign_employee(deps, world["user_main_admin"], world["ent"], emp.id,
                                "2026-12-01", META)
