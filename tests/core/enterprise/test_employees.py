"""Employees: onboarding, collection link, review, roster, departments, Excel import."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest

from core import devtools
from core.enterprise import departments as DP
from core.enterprise import employee_import as I
from core.enterprise import employees as E
from core.enterprise.employees import EMPLOYEE_SM, EmployeeStatus
from core.errors import Conflict, DomainError, IllegalTransition, NotFound, UnsupportedMedia
from tests.enterprise_factories import (
    META,
    certified_enterprise,
    hostile_xlsx,
    id_number,
    new_phone,
    xlsx_bytes,
)


def test_employee_transitions() -> None:
    assert EMPLOYEE_SM.can(EmployeeStatus.PENDING_REVIEW, EmployeeStatus.ACTIVE)
    assert EMPLOYEE_SM.can(EmployeeStatus.REJECTED, EmployeeStatus.PENDING_REVIEW)
    with pytest.raises(IllegalTransition):
        EMPLOYEE_SM.ensure(EmployeeStatus.RESIGNED, EmployeeStatus.ACTIVE)
    with pytest.raises(IllegalTransition):
        EMPLOYEE_SM.ensure(EmployeeStatus.COLLECTING, EmployeeStatus.ACTIVE)


async def _link_token(deps, outbox, phone: str) -> str:
    await outbox.drain()
    text = (await devtools.sms_inbox(deps, phone))[0].text
    return re.search(r"/collect/([\w-]+)", text).group(1)


async def test_collection_review_reject_and_resubmit(deps, outbox, clock) -> None:
    ent, admin = await certified_enterprise(deps)
    dept = await DP.add_department(deps, admin, ent, "研发部", None, META)
    phone = new_phone()
    emp = await E.onboard_employee(deps, admin, ent, {"name": "员工甲", "phone": phone}, META)
    assert emp.status == "collecting"
    token = await _link_token(deps, outbox, phone)
    form = {"name": "员工甲", "id_number": id_number("321"), "department": dept.id,
            "position": "工程师", "start_date": "2026-12-01"}
    await E.submit_collection(deps, token, form, META)
    with pytest.raises(NotFound):  # the link is single use
        await E.collection_form(deps, token)
    clock.advance(seconds=5)  # the inbox lists newest first
    rejected = await E.review_employee(deps, admin, ent, emp.id, approve=False,
                                       reason="身份证号有误", meta=META)
    assert rejected.status == "rejected"
    token2 = await _link_token(deps, outbox, phone)
    # The rejection notice and the new link are sent at the same instant: either may be first.
    newest = [m.text for m in await devtools.sms_inbox(deps, phone)][:2]
    assert any("身份证号有误" in text for text in newest)
    await E.submit_collection(deps, token2, form, META)
    active = await E.review_employee(deps, admin, ent, emp.id, approve=True, meta=META)
    assert active.status == "active" and active.department == "研发部"
    assert active.id_number_masked and "*" in active.id_number_masked


async def test_roster_search_transfer_resign(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    a = await DP.add_department(deps, admin, ent, "销售部", None, META)
    b = await DP.add_department(deps, admin, ent, "市场部", None, META)
    emp = await E.onboard_employee(deps, admin, ent, {
        "name": "员工丙", "phone": new_phone(), "id_number": id_number("222"),
        "department": a.id, "position": "销售", "start_date": "2026-01-05"},
        META, send_link=False)
    await E.review_employee(deps, admin, ent, emp.id, approve=True, meta=META)
    assert (await E.list_employees(deps, admin, ent, q="丙")).total == 1
    moved = await E.transfer_department(deps, admin, ent, emp.id, b.id, META)
    assert moved.department == "市场部"
    with pytest.raises(Conflict):
        await DP.delete_department(deps, admin, ent, b.id, META)
    await E.resign_employee(deps, admin, ent, emp.id, "2026-11-30", META)
    assert (await E.list_employees(deps, admin, ent)).total == 0
    assert (await E.list_employees(deps, admin, ent, statuses=["resigned"])).total == 1
    await DP.delete_department(deps, admin, ent, b.id, META)


async def test_department_move_refuses_cycles(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    top = await DP.add_department(deps, admin, ent, "总部", None, META)
    child = await DP.add_department(deps, admin, ent, "技术中心", top.id, META)
    with pytest.raises(Conflict):
        await DP.move_department(deps, admin, ent, top.id, child.id, META)
    await DP.rename_department(deps, admin, ent, child.id, "研发中心", META)
    tree = await DP.department_tree(deps, admin, ent)
    assert [(n.path, n.depth) for n in tree] == [("总部", 0), ("总部/研发中心", 1)]


async def test_import_good_file(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    await DP.add_department(deps, admin, ent, "研发部", None, META)
    data = xlsx_bytes([
        ["员工一", new_phone(), id_number("101"), "研发部", "工程师", "2026-12-01"],
        ["员工二", new_phone(), None, None, None, None],
    ])
    report = await I.import_employees(deps, admin, ent, data, META)
    assert report.ok and report.imported == 2
    page = await E.list_employees(deps, admin, ent, statuses=["pending_review"])
    assert page.total == 2


async def test_import_bad_rows_imports_nothing(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    dup = new_phone()
    data = xlsx_bytes([
        ["员工一", dup, None, None, None, None],
        ["员工二", "12345", None, None, None, None],
        ["员工三", dup, None, None, None, None],
        ["员工四", new_phone(), "110101199003071230", "不存在的部门", None, "2026-13-01"],
    ])
    report = await I.import_employees(deps, admin, ent, data, META)
    assert report.imported == 0
    assert {(e.row, e.field) for e in report.errors} == {
        (3, "手机号"), (4, "手机号"), (5, "身份证号"), (5, "部门"), (5, "入职日期")}
    page = await E.list_employees(deps, admin, ent, statuses=["pending_review", "active"])
    assert page.total == 0


async def test_import_reads_numbers_and_dates_as_excel_stores_them(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    phone = new_phone()
    data = xlsx_bytes([["员工一", int(phone), None, None, None, date(2026, 12, 1)]])
    report = await I.import_employees(deps, admin, ent, data, META)
    assert report.ok and report.imported == 1
    page = await E.list_employees(deps, admin, ent, statuses=["pending_review"])
    assert [e.phone for e in page.items] == [phone]


def _hostile(**padding: object) -> bytes:
    out = io.BytesIO()
    hostile_xlsx(out, **padding)  # type: ignore[arg-type]
    return out.getvalue()


@pytest.mark.parametrize(
    ("padding", "code"),
    [
        ({"empty_rows": 100_000}, "too_many_rows"),  # streamed: stops at the row bound
        ({"empty_rows": 2_000_000}, "upload_too_large"),  # refused by its compression ratio
        ({"dimension": "A1:F1048576", "data_rows": 2}, "too_many_rows"),
        ({"shared_strings": 200_000}, "upload_too_large"),  # streamed: stops at the bound
        ({"shared_strings": 200_000, "declare_count": True}, "upload_too_large"),
    ],
    ids=["empty-rows", "inflated-sheet", "dimension", "strings", "declared-strings"],
)
async def test_import_refuses_padded_files_before_the_work(deps, padding, code) -> None:
    ent, admin = await certified_enterprise(deps)
    with pytest.raises(DomainError) as err:
        await I.import_employees(deps, admin, ent, _hostile(**padding), META)
    assert err.value.code == code
    assert code != "too_many_rows" or "每次最多导入 10000 行" in err.value.message


async def test_import_refuses_non_excel(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    with pytest.raises(UnsupportedMedia):
        await I.import_employees(deps, admin, ent, b"name,phone\nA,13900000000\n", META)


async def test_import_template_round_trip(deps) -> None:
    ent, admin = await certified_enterprise(deps)
    template = I.template_bytes(await E.onboarding_fields(deps, admin, ent))
    with pytest.raises(Exception) as err:
        await I.import_employees(deps, admin, ent, template, META)
    assert getattr(err.value, "code", "") == "empty_import"
