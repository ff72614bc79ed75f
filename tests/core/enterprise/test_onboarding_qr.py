"""Onboarding by QR code: the enterprise's poster (made once, renewed, reset) and the
worker's own registration behind it (verified identity, no duplicates, HR review)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.enterprise import certification as cert
from core.enterprise import departments as DP
from core.enterprise import employees as E
from core.enterprise import onboarding_qr as OQ
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.wechat.scenes import create_scene, scan_scene
from storage.models import AuditEntry, Employee, User
from tests.enterprise_factories import (
    META,
    certified_enterprise,
    id_number,
    joined_member,
    make_user,
    user_phone,
)

FIELDS = ["id_number", "department", "position", "start_date", "bank_card"]


async def _employees(deps, ent: str) -> list[Employee]:
    async with deps.db.sessions() as session:
        return list((await session.execute(
            select(Employee).where(Employee.enterprise_id == ent))).scalars().all())


async def _audit_count(deps, action: str) -> int:
    async with deps.db.sessions() as session:
        return (await session.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        )).scalar_one()


@pytest.fixture
async def shop(deps) -> dict[str, str]:
    """A certified enterprise collecting ID, department, position, start date, bank card."""
    ent, admin = await certified_enterprise(deps, name="扫码入职有限公司")
    dept = await DP.add_department(deps, admin, ent, "生产部", None, META)
    await E.set_onboarding_fields(deps, admin, ent, FIELDS, META)
    poster = await OQ.onboarding_poster(deps, admin, ent, META)
    return {"ent": ent, "admin": admin, "dept": dept.id, "token": poster.token}


def _good(dept: str) -> dict[str, str]:
    return {"department": dept, "position": "操作工", "start_date": "2026-12-01",
            "bank_card": "6222 0202 0000 1234 567"}


# ---------------------------------------------------------------- poster


async def test_poster_is_made_once_and_reused(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    first = await OQ.onboarding_poster(deps, admin, ent, META)
    second = await OQ.onboarding_poster(deps, admin, ent, META)
    assert first.token == second.token
    assert first.join_url == f"{deps.config.server.base_url.rstrip('/')}" \
                             f"/onboarding/join?scene={first.token}"
    assert first.expires_at - deps.clock.now() == timedelta(
        days=deps.config.wechat.onboarding_scene_ttl_days)
    assert await _audit_count(deps, "employees.qr_created") == 1


async def test_poster_in_dev_has_a_simulated_wechat_code_not_an_image(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    poster = await OQ.onboarding_poster(deps, admin, ent, META)
    assert poster.wechat_simulated and poster.wechat_qr_url is None


async def test_poster_is_renewed_shortly_before_it_expires(deps, clock) -> None:
    ent, admin = await certified_enterprise(deps)
    first = await OQ.onboarding_poster(deps, admin, ent, META)
    clock.advance(days=deps.config.wechat.onboarding_scene_ttl_days - 2)
    renewed = await OQ.onboarding_poster(deps, admin, ent, META)
    assert renewed.token != first.token
    # Not a reset: codes already printed keep working until their own expiry.
    worker = await make_user(deps)
    assert (await OQ.join_form(deps, worker, first.token)).enterprise_name


async def test_reset_makes_a_new_code_and_the_old_stops_working(deps, shop) -> None:
    fresh = await OQ.reset_onboarding_poster(deps, shop["admin"], shop["ent"], META)
    assert fresh.token != shop["token"]
    worker = await make_user(deps)
    with pytest.raises(Conflict) as refused:
        await OQ.join_form(deps, worker, shop["token"])
    assert refused.value.code == "onboarding_qr_expired" and "重置" in refused.value.message
    with pytest.raises(Conflict):  # and WeChat scans of the old poster are refused too
        await scan_scene(deps, shop["token"], "o_scanner")
    assert (await OQ.onboarding_poster(deps, shop["admin"], shop["ent"])).token == fresh.token
    assert await _audit_count(deps, "employees.qr_reset") == 1


async def test_poster_and_joining_need_a_certified_enterprise(deps, shop) -> None:
    # A new name means re-certification: no posters and no joins until it is done.
    await cert.change_enterprise_info(deps, shop["admin"], shop["ent"], name="新名称有限公司",
                                      meta=META)
    with pytest.raises(Conflict) as refused:
        await OQ.onboarding_poster(deps, shop["admin"], shop["ent"], META)
    assert refused.value.code == "not_certified"
    worker = await make_user(deps)
    with pytest.raises(Conflict):
        await OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
    assert await _employees(deps, shop["ent"]) == []


async def test_non_hr_member_cannot_get_or_reset_the_poster(deps, shop) -> None:
    member = await joined_member(deps, shop["ent"], shop["admin"], "employee")
    with pytest.raises(PermissionDenied):
        await OQ.onboarding_poster(deps, member, shop["ent"], META)
    with pytest.raises(PermissionDenied):
        await OQ.reset_onboarding_poster(deps, member, shop["ent"], META)
    hr = await joined_member(deps, shop["ent"], shop["admin"], "hr")
    assert (await OQ.onboarding_poster(deps, hr, shop["ent"], META)).token == shop["token"]


async def test_member_of_another_enterprise_cannot_get_the_poster(deps, shop) -> None:
    _, other_admin = await certified_enterprise(deps, name="别家有限公司")
    with pytest.raises(NotFound):
        await OQ.onboarding_poster(deps, other_admin, shop["ent"], META)
    with pytest.raises(NotFound):
        await OQ.reset_onboarding_poster(deps, other_admin, shop["ent"], META)


# ---------------------------------------------------------------- joining


async def test_verified_worker_registers_and_hr_approves(deps, shop) -> None:
    worker = await make_user(deps, name="赵铁柱")
    form = await OQ.join_form(deps, worker, shop["token"])
    assert form.enterprise_name == "扫码入职有限公司" and form.verified
    assert [k for k, _ in form.fields] == ["department", "position", "start_date", "bank_card"]
    assert form.collects_id_number and form.id_number_masked and form.existing is None

    joined = await OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
    [e] = await _employees(deps, shop["ent"])
    async with deps.db.sessions() as session:
        user = await session.get(User, worker)
    assert (e.id, e.status, e.source, e.user_id) == (joined.employee_id, "pending_review",
                                                     "qr", worker)
    assert (e.name, e.phone) == ("赵铁柱", user.phone)
    assert (e.id_number_hash, e.id_number_masked) == (user.id_number_hash,
                                                      user.id_number_masked)
    assert e.fields["bank_card_masked"].endswith("4567") and "bank_card" not in e.fields
    assert await _audit_count(deps, "employee.self_onboarded") == 1

    view = await E.review_employee(deps, shop["admin"], shop["ent"], e.id, approve=True,
                                   meta=META)
    assert view.status == "active" and view.department == "生产部"


async def test_rejected_qr_joiner_corrects_fields_but_keeps_the_verified_identity(
    deps, shop, outbox
) -> None:
    import re

    from core.devtools import sms_inbox

    worker = await make_user(deps, name="孙红")
    await OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
    [e] = await _employees(deps, shop["ent"])
    await E.review_employee(deps, shop["admin"], shop["ent"], e.id, approve=False,
                            reason="岗位填写有误", meta=META)
    await outbox.drain()
    phone = await user_phone(deps, worker)
    text = next(m.text for m in await sms_inbox(deps, phone) if "/collect/" in m.text)
    token = re.search(r"/collect/([\w-]+)", text).group(1)

    form = await E.collection_form(deps, token)
    assert form.locked == ("name", "phone", "id_number")
    assert form.values["id_number"] == e.id_number_masked  # masked, never the number
    await E.submit_collection(deps, token, {**_good(shop["dept"]), "position": "质检员",
                                            "name": "冒名者", "id_number": id_number("777")},
                              META)
    [after] = await _employees(deps, shop["ent"])
    assert (after.status, after.position, after.name) == ("pending_review", "质检员", "孙红")
    assert after.id_number_hash == e.id_number_hash


async def test_typed_name_phone_and_id_number_are_ignored(deps, shop) -> None:
    worker = await make_user(deps, name="钱多多")
    typed = {**_good(shop["dept"]), "name": "冒名者", "phone": "13000000000",
             "id_number": id_number("777")}
    await OQ.self_onboard(deps, worker, shop["token"], typed, META)
    [e] = await _employees(deps, shop["ent"])
    assert (e.name, e.phone) == ("钱多多", await user_phone(deps, worker))
    assert not e.id_number_masked.endswith(id_number("777")[-4:])


async def test_unverified_worker_is_sent_to_the_real_name_check(deps, shop) -> None:
    worker = await make_user(deps, verified=False)
    assert not (await OQ.join_form(deps, worker, shop["token"])).verified
    with pytest.raises(PermissionDenied) as refused:
        await OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
    assert refused.value.code == "identity_required"
    assert await _employees(deps, shop["ent"]) == []


async def test_submitting_twice_is_refused_not_duplicated(deps, shop) -> None:
    worker = await make_user(deps)
    await OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
    with pytest.raises(Conflict) as refused:
        await OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
    assert "等待企业审核" in refused.value.message
    assert len(await _employees(deps, shop["ent"])) == 1
    existing = (await OQ.join_form(deps, worker, shop["token"])).existing
    assert existing is not None and existing.status == "pending_review"


async def test_concurrent_double_submit_makes_one_employee(deps, shop) -> None:
    worker = await make_user(deps)
    results = await asyncio.gather(
        *(OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
          for _ in range(3)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    assert len(await _employees(deps, shop["ent"])) == 1


async def test_roster_entry_with_the_same_phone_is_not_duplicated(deps, shop) -> None:
    worker = await make_user(deps)
    phone = await user_phone(deps, worker)
    await E.onboard_employee(deps, shop["admin"], shop["ent"], {"name": "张三", "phone": phone},
                             META)  # HR already sent them the SMS collection link
    with pytest.raises(Conflict) as refused:
        await OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
    assert refused.value.code == "employee_exists" and "短信" in refused.value.message
    assert len(await _employees(deps, shop["ent"])) == 1


async def test_active_employee_is_told_they_are_already_on_the_roster(deps, shop) -> None:
    worker = await make_user(deps)
    joined = await OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
    await E.review_employee(deps, shop["admin"], shop["ent"], joined.employee_id,
                            approve=True, meta=META)
    with pytest.raises(Conflict) as refused:
        await OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
    assert "在职员工" in refused.value.message


async def test_resigned_employee_may_register_again(deps, shop) -> None:
    worker = await make_user(deps)
    joined = await OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
    await E.review_employee(deps, shop["admin"], shop["ent"], joined.employee_id,
                            approve=True, meta=META)
    await E.resign_employee(deps, shop["admin"], shop["ent"], joined.employee_id,
                            "2026-12-31", META)
    again = await OQ.self_onboard(deps, worker, shop["token"], _good(shop["dept"]), META)
    assert again.employee_id != joined.employee_id


@pytest.mark.parametrize(("field", "value", "words"), [
    ("start_date", "下周一", "日期格式"),
    ("bank_card", "1234", "银行卡号"),
    ("department", "不存在的部门", "不存在"),
    ("position", "", "请填写岗位"),
])
async def test_bad_field_input_is_refused_and_nothing_is_written(
    deps, shop, field: str, value: str, words: str
) -> None:
    worker = await make_user(deps)
    with pytest.raises(InvalidInput) as refused:
        await OQ.self_onboard(deps, worker, shop["token"],
                              {**_good(shop["dept"]), field: value}, META)
    assert refused.value.field == field and words in refused.value.message
    assert await _employees(deps, shop["ent"]) == []


async def test_unknown_and_foreign_tokens_are_refused(deps, shop) -> None:
    worker = await make_user(deps)
    pc_login = (await create_scene(deps, "pc_login", {})).token
    no_enterprise = (await create_scene(deps, "onboarding", {"enterprise_name": "示例"})).token
    for token in ("", "s-no-such-token", "x" * 200, pc_login, no_enterprise):
        with pytest.raises(NotFound) as refused:
            await OQ.self_onboard(deps, worker, token, _good(shop["dept"]), META)
        assert refused.value.code == "onboarding_qr_invalid"


async def test_expired_token_is_refused(deps, shop, clock) -> None:
    worker = await make_user(deps)
    clock.advance(days=deps.config.wechat.onboarding_scene_ttl_days, seconds=1)
    with pytest.raises(Conflict) as refused:
        await OQ.join_form(deps, worker, shop["token"])
    assert refused.value.code == "onboarding_qr_expired"


async def test_enterprise_without_id_collection_stores_no_id_number(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    await E.set_onboarding_fields(deps, admin, ent, [], META)
    token = (await OQ.onboarding_poster(deps, admin, ent, META)).token
    worker = await make_user(deps)
    form = await OQ.join_form(deps, worker, token)
    assert form.fields == [] and not form.collects_id_number
    await OQ.self_onboard(deps, worker, token, {}, META)
    [e] = await _employees(deps, ent)
    assert e.id_number_cipher is None and e.id_number_masked is None
