"""Join requests, invitations, roles, removal with hand-over, admin change and appeal."""

from __future__ import annotations

import pytest

from core import accounts, devtools
from core.enterprise import admin_change as A
from core.enterprise import certification as cert
from core.enterprise import members as M
from core.enterprise import seals as S
from core.enterprise.members import JOIN_SM, JoinState
from core.errors import Conflict, IllegalTransition, InvalidInput, NotFound, PermissionDenied
from tests.enterprise_factories import (
    META,
    certified_enterprise,
    deposit_amount,
    make_user,
    new_phone,
    user_phone,
)
from tests.factories import DEFAULT_PASSWORD, last_code


async def _role(deps, admin, ent, builtin):
    return next(r.id for r in await M.list_roles(deps, admin, ent) if r.builtin == builtin)


async def _join(deps, ent, admin, builtin="hr", seal_ids=()):
    person = await make_user(deps, name="赵六")
    req = await M.request_join(deps, person, ent, "我是新来的 HR", META)
    await M.decide_join(deps, admin, ent, req.id, approve=True,
                        role_ids=[await _role(deps, admin, ent, builtin)],
                        seal_ids=list(seal_ids), meta=META)
    member = next(m for m in await M.list_members(deps, admin, ent) if m.user_id == person)
    return person, member


def test_join_request_transitions() -> None:
    assert JOIN_SM.can(JoinState.PENDING, JoinState.REVOKED)
    with pytest.raises(IllegalTransition):
        JOIN_SM.ensure(JoinState.REJECTED, JoinState.APPROVED)


async def test_only_certified_enterprises_are_searchable(deps) -> None:
    ent, _ = await certified_enterprise(deps, name="可搜索科技有限公司")
    user = await make_user(deps)
    from tests.enterprise_factories import submit

    await submit(deps, user, name="可搜索但未认证有限公司")
    hits = await M.search_enterprises(deps, user, "可搜索")
    assert [h.id for h in hits] == [ent]


async def test_join_approve_with_roles_and_seal_grants(deps, outbox) -> None:
    ent, admin = await certified_enterprise(deps)
    seal = (await S.list_seals(deps, admin, ent))[0]
    person, member = await _join(deps, ent, admin, seal_ids=[seal.id])
    assert member.role_names == ("HR",)
    grants = (await S.get_seal(deps, admin, ent, seal.id)).grantee_member_ids
    assert member.id in grants
    await outbox.drain()
    inbox = await devtools.sms_inbox(deps, await user_phone(deps, person))
    assert "已通过" in inbox[0].text


async def test_join_reject_then_reapply(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    person = await make_user(deps)
    req = await M.request_join(deps, person, ent, "申请加入", META)
    with pytest.raises(Conflict):
        await M.request_join(deps, person, ent, "再次申请", META)
    await M.decide_join(deps, admin, ent, req.id, approve=False, reason="不认识", meta=META)
    again = await M.request_join(deps, person, ent, "再次申请", META)
    revoked = await M.revoke_join(deps, person, again.id, META)
    assert revoked.state == "revoked"
    with pytest.raises(IllegalTransition):
        await M.decide_join(deps, admin, ent, again.id, approve=False, reason="晚了", meta=META)


async def test_unverified_person_cannot_apply(deps) -> None:
    ent, _ = await certified_enterprise(deps)
    person = await make_user(deps, verified=False)
    with pytest.raises(PermissionDenied):
        await M.request_join(deps, person, ent, "申请加入", META)


async def test_invited_phone_is_inactive_until_registration(deps, outbox) -> None:
    ent, admin = await certified_enterprise(deps)
    phone = new_phone()
    view = await M.add_member(deps, admin, ent, phone=phone, name="钱七",
                              role_ids=[await _role(deps, admin, ent, "employee")], meta=META)
    assert view.status == "inactive"
    await outbox.drain()
    assert "邀请" in (await devtools.sms_inbox(deps, phone))[0].text
    # the invited person registers the ordinary way; the membership starts in that transaction
    await accounts.send_code(deps, purpose="register", phone=phone, meta=META)
    code = await last_code(deps, outbox, phone)
    logged = await accounts.register(
        deps, phone=phone, code=code, password=DEFAULT_PASSWORD,
        password_confirm=DEFAULT_PASSWORD, agreements=accounts.REQUIRED_AGREEMENTS, meta=META)
    members = {m.id: m for m in await M.list_members(deps, admin, ent)}
    assert members[view.id].status == "active"
    assert members[view.id].user_id == logged.profile.id


async def test_roles_cannot_exceed_actor_permissions(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    hr, _ = await _join(deps, ent, admin, "hr")
    with pytest.raises(PermissionDenied):  # HR cannot manage members at all
        await M.add_member(deps, hr, ent, phone=new_phone(), name="孙八",
                           role_ids=[await _role(deps, admin, ent, "admin")], meta=META)


async def test_main_admin_role_is_never_assignable(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    with pytest.raises(PermissionDenied):
        await M.add_member(deps, admin, ent, phone=new_phone(), name="孙八",
                           role_ids=[await _role(deps, admin, ent, "main_admin")], meta=META)


async def test_custom_role_crud(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    role = await M.save_role(deps, admin, ent, role_id=None, name="印章专员",
                             permissions=["seals.view", "seals.grant"], meta=META)
    await M.save_role(deps, admin, ent, role_id=role.id, name="印章专员",
                      permissions=["seals.view"], meta=META)
    await M.delete_role(deps, admin, ent, role.id, META)
    assert role.id not in {r.id for r in await M.list_roles(deps, admin, ent)}
    builtin = await _role(deps, admin, ent, "hr")
    with pytest.raises(Conflict):
        await M.delete_role(deps, admin, ent, builtin, META)


async def test_remove_member_requires_handover(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    seal = (await S.list_seals(deps, admin, ent))[0]
    _, leaving = await _join(deps, ent, admin, seal_ids=[seal.id])
    _, staying = await _join(deps, ent, admin)
    with pytest.raises(Conflict) as err:
        await M.remove_member(deps, admin, ent, leaving.id, assignments={}, meta=META)
    assert err.value.code == "handover_required"
    items = await M.handover_items(deps, admin, ent, leaving.id)
    assert [i.kind for i in items] == ["seal"]
    removed = await M.remove_member(deps, admin, ent, leaving.id,
                                    assignments={items[0].key: staying.id}, meta=META)
    assert removed.status == "removed"
    grantees = (await S.get_seal(deps, admin, ent, seal.id)).grantee_member_ids
    assert grantees == (staying.id,)


async def test_main_admin_cannot_be_removed(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    me = next(m for m in await M.list_members(deps, admin, ent) if m.user_id == admin)
    with pytest.raises(PermissionDenied):
        await M.remove_member(deps, admin, ent, me.id, assignments={}, meta=META)


async def test_admin_transfer_with_sms_code(deps, outbox) -> None:
    ent, admin = await certified_enterprise(deps)
    seal = (await S.list_seals(deps, admin, ent))[0]
    me = next(m for m in await M.list_members(deps, admin, ent) if m.user_id == admin)
    await S.grant_seal(deps, admin, ent, seal.id, me.id, META)
    new_admin, new_member = await _join(deps, ent, admin, "hr")
    await A.send_transfer_code(deps, admin, ent, META)
    await outbox.drain()
    code = next(m.code for m in await devtools.sms_inbox(deps, await user_phone(deps, admin))
                if m.code)
    with pytest.raises(InvalidInput):
        await A.transfer_admin(deps, admin, ent, code="000000" if code != "000000" else "111111",
                               new_member_id=new_member.id, handover_keys=[], meta=META)
    await A.transfer_admin(deps, admin, ent, code=code, new_member_id=new_member.id,
                           handover_keys=[f"seal:{seal.id}"], meta=META)
    members = {m.user_id: m for m in await M.list_members(deps, new_admin, ent)}
    assert members[new_admin].is_main_admin
    assert members[admin].status == "active" and members[admin].role_names == ("员工",)
    assert (await S.get_seal(deps, new_admin, ent, seal.id)).grantee_member_ids == (
        new_member.id,)
    with pytest.raises(PermissionDenied):
        await M.list_join_requests(deps, admin, ent)


async def test_appeal_by_micro_deposit_makes_new_admin(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    claimant = await make_user(deps, name="周九")
    with pytest.raises(NotFound):  # methods need an open appeal
        await cert.start_letter(deps, claimant, ent, META, purpose="appeal")
    await A.start_appeal(deps, claimant, ent, META)
    attempt = await cert.start_deposit(deps, claimant, ent, account_name="测试科技有限公司",
                                       account_number="6222020200009999", bank_name="建设银行",
                                       meta=META, purpose="appeal")
    await cert.confirm_deposit(deps, claimant, attempt.id, await deposit_amount(deps, attempt.id),
                               META)
    members = {m.user_id: m for m in await M.list_members(deps, claimant, ent)}
    assert members[claimant].is_main_admin
    assert members[admin].role_names == ("员工",)  # demoted, not deleted
    assert (await A.my_appeals(deps, claimant))[0].state == "done"


async def test_roles_and_business_types_are_listed_in_their_documented_order(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    await M.save_role(deps, admin, ent, role_id=None, name="Ａ审计员",
                      permissions=["enterprise.view"], meta=META)
    names = [r.name for r in await M.list_roles(deps, admin, ent)]
    assert names == ["主管理员", "管理员", "HR", "法务", "员工", "Ａ审计员"]
    types = [b.name for b in await M.list_business_types(deps, admin, ent)]
    assert types == ["劳动合同", "劳务派遣合同", "保密协议", "实习协议", "劳务合同", "其他"]


async def test_my_access_reflects_roles_and_hides_the_enterprise_from_outsiders(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    person, _ = await _join(deps, ent, admin, builtin="employee")
    mine = await M.my_access(deps, admin, ent)
    theirs = await M.my_access(deps, person, ent)
    assert mine.is_main_admin and mine.can("audit.view")
    assert not theirs.is_main_admin and theirs.permissions == frozenset({"enterprise.view"})
    with pytest.raises(NotFound):
        await M.my_access(deps, await make_user(deps), ent)
