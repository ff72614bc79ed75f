"""The enterprise contract ledger (C3/B3): search, filters, sorting, pages past 100,
business-type isolation, confidential contracts, cc (抄送) and the .xlsx export."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from core.clock import LOCAL_ZONE
from core.contracts import access, ledger, send
from core.contracts.ledger import LedgerQuery, parse_query
from core.contracts.send import CcSpec, Options
from core.errors import InvalidInput, NotFound
from storage.models import Contract, ContractCc, OutboxMessage, User
from tests.contract_support import META, company, parties, person, send_contract
from tests.enterprise_factories import make_user, new_phone, user_phone
from tests.ledger_support import (
    Row,
    department,
    employee_in,
    insert_contracts,
    member_with,
    type_ids,
)


async def _ids(deps, user_id, ent, **query) -> list[str]:
    page = await ledger.ledger(deps, user_id, ent, LedgerQuery(per_page=100, **query))
    return [i.id for i in page.items]


async def test_contracts_get_numbers_in_order_per_enterprise_and_day(deps) -> None:
    p = await parties(deps)
    first = await send_contract(deps, p)
    second = await send_contract(deps, p)
    async with deps.db.sessions() as session:
        numbers = dict((await session.execute(
            select(Contract.id, Contract.number))).all())
    day = deps.clock.now().astimezone(LOCAL_ZONE).strftime("%Y%m%d")
    assert numbers[first] == f"HT{day}0001"
    assert numbers[second] == f"HT{day}0002"
    # Another enterprise counts from one on its own.
    other = await parties(deps)
    third = await send_contract(deps, other)
    async with deps.db.sessions() as session:
        assert (await session.get(Contract, third)).number == f"HT{day}0001"


async def test_a_sent_contract_is_a_labour_contract_unless_another_type_is_chosen(deps) -> None:
    p = await parties(deps)
    types = await type_ids(deps, p.enterprise_id)
    assert set(types) >= {"劳动合同", "劳务派遣合同", "保密协议", "实习协议", "劳务合同", "其他"}
    plain = await send_contract(deps, p)
    nda = await send.create_and_send(
        deps, p.admin_id, p.enterprise_id, title="保密协议", filename="nda.pdf",
        pdf=_pdf(), signers=[person(p.employee_phone), company(p.seal_id)], meta=META,
        business_type_id=types["保密协议"])
    async with deps.db.sessions() as session:
        assert (await session.get(Contract, plain)).business_type_id == types["劳动合同"]
        assert (await session.get(Contract, nda)).business_type_id == types["保密协议"]
    view = await access.view_contract(deps, p.admin_id, nda)
    assert view.business_type == "保密协议"


def _pdf() -> bytes:
    from core.signing.samples import sample_contract_pdf

    return sample_contract_pdf(3)


async def test_pages_go_past_one_hundred_without_losing_or_repeating_a_contract(deps) -> None:
    p = await parties(deps)
    rows = [Row(f"劳动合同-{i:03d}", f"员工{i:03d}", new_phone()) for i in range(130)]
    made = await insert_contracts(deps, p.enterprise_id, p.admin_id, rows)
    seen: list[str] = []
    for page_no in (1, 2, 3):
        page = await ledger.ledger(deps, p.admin_id, p.enterprise_id,
                                   LedgerQuery(per_page=50, page=page_no))
        assert page.total == 130 and page.pages == 3
        seen += [i.id for i in page.items]
    assert len(seen) == 130 and set(seen) == set(made)
    # Newest sent first by default: the last inserted row was sent last.
    assert seen[0] == made[-1]
    # Title ascending, page 2 of 20 a page starts at the 21st title.
    page = await ledger.ledger(deps, p.admin_id, p.enterprise_id,
                               LedgerQuery(sort="title", order="asc", page=2))
    assert page.items[0].title == "劳动合同-020"
    assert page.has_prev and page.has_next


async def test_search_finds_title_signer_name_phone_and_number(deps) -> None:
    p = await parties(deps)
    phone = new_phone()
    ids = await insert_contracts(deps, p.enterprise_id, p.admin_id, [
        Row("劳动合同（张伟）", "张伟", phone),
        Row("实习协议（李娜）", "李娜", new_phone(), business_type="实习协议"),
        Row("保密协议 100%_保密", "王芳", new_phone(), business_type="保密协议"),
    ])
    async with deps.db.sessions() as session:
        number = (await session.get(Contract, ids[1])).number
    ent, admin = p.enterprise_id, p.admin_id
    assert await _ids(deps, admin, ent, q="张伟") == [ids[0]]
    assert await _ids(deps, admin, ent, q="李娜") == [ids[1]]
    assert await _ids(deps, admin, ent, q=phone) == [ids[0]]
    assert await _ids(deps, admin, ent, q=phone[-4:]) == [ids[0]]
    assert await _ids(deps, admin, ent, q=number) == [ids[1]]
    assert await _ids(deps, admin, ent, q=number.lower()) == [ids[1]]
    # LIKE wildcards are searched as text.
    assert await _ids(deps, admin, ent, q="100%_") == [ids[2]]
    assert await _ids(deps, admin, ent, q="%") == [ids[2]]
    assert await _ids(deps, admin, ent, q="没有这份") == []


async def test_filters_state_type_department_sent_and_deadline(deps) -> None:
    p = await parties(deps)
    now = deps.clock.now()
    sales = await department(deps, p.enterprise_id, "销售部")
    east = await department(deps, p.enterprise_id, "华东组", parent_id=sales)
    tech = await department(deps, p.enterprise_id, "技术部")
    east_phone = await employee_in(deps, p.enterprise_id, east, "周华东")
    tech_phone = await employee_in(deps, p.enterprise_id, tech, "吴技术")
    ids = await insert_contracts(deps, p.enterprise_id, p.admin_id, [
        Row("A 已完成", "周华东", east_phone, state="completed",
            sent_at=now - timedelta(days=40)),
        Row("B 签署中", "吴技术", tech_phone, sent_at=now - timedelta(days=2),
            deadline=now + timedelta(days=3)),
        Row("C 派遣", "路人", new_phone(), business_type="劳务派遣合同",
            sent_at=now - timedelta(days=1), deadline=now + timedelta(days=30)),
        Row("D 撤销", "路人乙", new_phone(), state="revoked", sent_at=now - timedelta(days=10)),
    ])
    a, b, c, d = ids
    ent, admin = p.enterprise_id, p.admin_id
    types = await type_ids(deps, ent)
    assert set(await _ids(deps, admin, ent, state="in_progress")) == {b, c}
    assert await _ids(deps, admin, ent, state="completed") == [a]
    assert await _ids(deps, admin, ent, state="ended") == [d]
    assert await _ids(deps, admin, ent, business_type_id=types["劳务派遣合同"]) == [c]
    # A department includes its sub-departments.
    assert await _ids(deps, admin, ent, department_id=sales) == [a]
    assert await _ids(deps, admin, ent, department_id=east) == [a]
    assert await _ids(deps, admin, ent, department_id=tech) == [b]
    assert await _ids(deps, admin, ent, department_id="0" * 32) == []
    local = now.astimezone(LOCAL_ZONE).date()
    assert set(await _ids(deps, admin, ent, sent_from=local - timedelta(days=3),
                          sent_to=local)) == {b, c}
    assert await _ids(deps, admin, ent, sent_to=local - timedelta(days=30)) == [a]
    assert await _ids(deps, admin, ent, deadline_before=local + timedelta(days=5)) == [b]
    assert await _ids(deps, admin, ent, deadline_after=local + timedelta(days=10)) == [c]
    # Deadline order: soonest first ascending, and contracts without one come last.
    order = await _ids(deps, admin, ent, sort="deadline", order="asc")
    assert order[:2] == [b, c] and set(order[2:]) == {a, d}


async def test_a_member_limited_to_business_types_sees_only_those(deps) -> None:
    p = await parties(deps)
    ids = await insert_contracts(deps, p.enterprise_id, p.admin_id, [
        Row("劳动合同甲", "甲", new_phone()),
        Row("派遣合同乙", "乙", new_phone(), business_type="劳务派遣合同"),
        Row("保密协议丙", "丙", new_phone(), business_type="保密协议"),
    ])
    labour, dispatch, nda = ids
    limited = await member_with(deps, p.enterprise_id, p.admin_id,
                                types=("劳务派遣合同", "保密协议"))
    unlimited = await member_with(deps, p.enterprise_id, p.admin_id, name="孙八")
    ent = p.enterprise_id
    assert set(await _ids(deps, limited, ent)) == {dispatch, nda}
    assert set(await _ids(deps, unlimited, ent)) == set(ids)
    assert set(await _ids(deps, p.admin_id, ent)) == set(ids)  # the main admin: all
    # Asking for another type by filter gives nothing, not the other type's contracts.
    types = await type_ids(deps, ent)
    assert await _ids(deps, limited, ent, business_type_id=types["劳动合同"]) == []
    # The export and the contract page keep to the same rule.
    export = await ledger.export(deps, limited, ent, LedgerQuery())
    titles = {r[1] for r in _rows(export.data)}
    assert titles == {"派遣合同乙", "保密协议丙"}
    with pytest.raises(NotFound):
        await access.view_contract(deps, limited, labour)
    # Their choices and what they may send follow the limit too.
    choices = await ledger.choices(deps, limited, ent)
    assert [b.name for b in choices.business_types] == ["劳务派遣合同", "保密协议"]
    async with deps.db.transaction() as tx:
        assert await send.business_type_for(tx, limited, ent, None) == types["劳务派遣合同"]
        with pytest.raises(InvalidInput):
            await send.business_type_for(tx, limited, ent, types["劳动合同"])


async def test_a_confidential_contract_is_seen_by_initiator_handler_cc_and_main_admin(
        deps) -> None:
    p = await parties(deps)
    hr = await member_with(deps, p.enterprise_id, p.admin_id, name="钱七")  # contracts.view
    sender = await member_with(deps, p.enterprise_id, p.admin_id, name="冯九")
    copied = await member_with(deps, p.enterprise_id, p.admin_id, role="employee",
                               name="陈十")
    async with deps.db.sessions() as session:
        from storage.models import Member
        copied_member = (await session.execute(select(Member.id).where(
            Member.enterprise_id == p.enterprise_id,
            Member.user_id == copied))).scalar_one()
    secret = await send.create_and_send(
        deps, sender, p.enterprise_id, title="高管劳动合同", filename="c.pdf", pdf=_pdf(),
        signers=[person(p.employee_phone), company(p.seal_id)], meta=META,
        options=Options(confidential=True, cc=(CcSpec(member_id=copied_member),)))
    open_one = await send_contract(deps, p, title="普通劳动合同")
    ent = p.enterprise_id
    assert await _ids(deps, hr, ent) == [open_one]  # HR with contracts.view: not this one
    with pytest.raises(NotFound):
        await access.view_contract(deps, hr, secret)
    assert secret in await _ids(deps, sender, ent)  # the initiator
    assert secret in await _ids(deps, p.sealer_id, ent)  # the handler (holds the seal)
    assert await _ids(deps, copied, ent) == [secret]  # cc, without contracts.view
    assert set(await _ids(deps, p.admin_id, ent)) == {secret, open_one}  # main admin
    view = await access.view_contract(deps, copied, secret)
    assert view.confidential and view.is_cc and not view.can_sign
    # The employee who signs it still sees it as a signer.
    assert (await access.view_contract(deps, p.employee_id, secret)).can_sign


async def test_cc_by_phone_reads_the_contract_in_cc_me_but_never_signs(deps, outbox) -> None:
    p = await parties(deps)
    watcher = await make_user(deps, name="郑十一")
    phone = await user_phone(deps, watcher)
    later_phone = new_phone()  # not registered yet
    cid = await send.create_and_send(
        deps, p.admin_id, p.enterprise_id, title="派遣合同", filename="c.pdf", pdf=_pdf(),
        signers=[person(p.employee_phone), company(p.seal_id)], meta=META,
        options=Options(cc=(CcSpec(phone=phone, name="郑十一"),
                            CcSpec(phone=later_phone, name="王十二"))))
    other = await send_contract(deps, p, title="与我无关")
    items = await access.list_contracts(deps, watcher, "cc")
    assert [i.id for i in items] == [cid]
    assert other not in {i.id for i in await access.list_contracts(deps, watcher, "cc")}
    assert await access.list_contracts(deps, watcher, "to_sign") == []
    view = await access.view_contract(deps, watcher, cid)
    assert view.is_cc and not view.can_sign and not view.can_reject
    assert set(view.cc_names) == {"郑十一", "王十二"}
    # Told by SMS through the job system.
    async with deps.db.sessions() as session:
        keys = set((await session.execute(select(OutboxMessage.dedupe_key))).scalars())
    assert f"sms:contract-cc:{cid}:{phone}" in keys
    # A phone registered after sending finds it too (matched by phone).
    later = await make_user(deps, phone=later_phone, name="王十二")
    assert [i.id for i in await access.list_contracts(deps, later, "cc")] == [cid]
    # Search and state filter in the personal lists.
    assert [i.id for i in await access.list_contracts(deps, watcher, "cc", q="派遣")] == [cid]
    assert await access.list_contracts(deps, watcher, "cc", q="不存在") == []
    assert await access.list_contracts(deps, watcher, "cc", state="completed") == []
    assert [i.id for i in await access.list_contracts(
        deps, watcher, "cc", state="in_progress")] == [cid]
    with pytest.raises(InvalidInput):
        await access.list_contracts(deps, watcher, "cc", state="bogus")
    with pytest.raises(InvalidInput):
        await access.list_contracts(deps, watcher, "cc", q="长" * 51)
    with pytest.raises(InvalidInput):
        await access.list_contracts(deps, watcher, "cc", q="\x00")


async def test_cc_refuses_strangers_members_and_bad_phones(deps) -> None:
    p = await parties(deps)
    other = await parties(deps)
    async with deps.db.sessions() as session:
        from storage.models import Member
        foreign = (await session.execute(select(Member.id).where(
            Member.enterprise_id == other.enterprise_id))).scalars().first()
    for cc in ((CcSpec(member_id=foreign),), (CcSpec(phone="12345"),),
               (CcSpec(member_id="a\x00b"),),
               tuple(CcSpec(phone=new_phone()) for _ in range(send.MAX_CC + 1))):
        with pytest.raises(InvalidInput):
            await send.create_and_send(
                deps, p.admin_id, p.enterprise_id, title="x", filename="c.pdf", pdf=_pdf(),
                signers=[person(p.employee_phone), company(p.seal_id)], meta=META,
                options=Options(cc=cc))
    async with deps.db.sessions() as session:
        assert (await session.execute(select(ContractCc))).first() is None
        assert (await session.execute(select(Contract))).first() is None


def _rows(data: bytes) -> list[tuple[str, ...]]:
    wb = load_workbook(io.BytesIO(data), read_only=True)
    ws = wb.active
    rows = [tuple("" if v is None else str(v) for v in r) for r in ws.iter_rows(values_only=True)]
    assert rows[0] == ledger.EXPORT_HEADER
    return rows[1:]


async def test_export_holds_exactly_the_filtered_rows_and_no_id_numbers(deps) -> None:
    p = await parties(deps)
    rows = [Row(f"派遣-{i:03d}", f"派遣员工{i}", new_phone(), business_type="劳务派遣合同")
            for i in range(120)]
    rows += [Row(f"劳动-{i:02d}", f"劳动员工{i}", new_phone()) for i in range(15)]
    rows += [Row("=HYPERLINK(\"x\")", "公式", new_phone())]
    await insert_contracts(deps, p.enterprise_id, p.admin_id, rows)
    types = await type_ids(deps, p.enterprise_id)
    export = await ledger.export(deps, p.admin_id, p.enterprise_id,
                                 LedgerQuery(business_type_id=types["劳务派遣合同"],
                                             sort="title", order="asc"))
    got = _rows(export.data)
    assert export.rows == 120 == len(got)
    assert [r[1] for r in got] == [f"派遣-{i:03d}" for i in range(120)]
    assert all(r[2] == "劳务派遣合同" and re.fullmatch(r"HT\d{12}", r[0]) for r in got)
    assert all("****" in r[6] for r in got)  # phones masked
    everything = _rows((await ledger.export(deps, p.admin_id, p.enterprise_id,
                                            LedgerQuery(q="HYPERLINK"))).data)
    assert everything[0][1].startswith("'=")  # a formula stays text
    # No ID number of any user appears anywhere in the file.
    async with deps.db.sessions() as session:
        masked = set((await session.execute(select(User.id_number_masked))).scalars())
    text = export.data.decode("latin-1")
    assert not re.search(r"\d{17}[\dX]", text)
    assert all(m is None or m not in text for m in masked)


async def test_export_is_bounded(deps, monkeypatch) -> None:
    p = await parties(deps)
    await insert_contracts(deps, p.enterprise_id, p.admin_id,
                           [Row(f"合同{i}", "甲", new_phone()) for i in range(4)])
    monkeypatch.setattr(ledger, "EXPORT_LIMIT", 3)
    with pytest.raises(InvalidInput) as err:
        await ledger.export(deps, p.admin_id, p.enterprise_id, LedgerQuery())
    assert err.value.code == "export_too_large"


async def test_outsiders_and_bad_queries_are_refused(deps) -> None:
    p = await parties(deps)
    stranger = await make_user(deps, name="外人")
    with pytest.raises(NotFound):
        await ledger.ledger(deps, stranger, p.enterprise_id)
    with pytest.raises(NotFound):
        await ledger.export(deps, stranger, p.enterprise_id, LedgerQuery())
    for bad in ({"state": "nope"}, {"sort": "id"}, {"order": "up"}, {"page": "0"},
                {"page": "99999999"}, {"per_page": "30"}, {"sent_from": "2026-13-01"},
                {"sent_from": "2026-02-02", "sent_to": "2026-02-01"}, {"q": "长" * 51},
                {"type": "x' or 1=1"}, {"q": "a\x00b"}, {"q": "\x07"}, {"dept": "a" * 40},
                {"deadline_before": "tomorrow"}):
        with pytest.raises(InvalidInput):
            parse_query(bad)
    q = parse_query({"q": " 张三 ", "state": "completed", "page": "3", "per_page": "50",
                     "sent_from": "2026-01-01", "template": "abc"})
    assert (q.q, q.state, q.page, q.per_page, q.template_id) == ("张三", "completed", 3, 50,
                                                                   "abc")
    assert parse_query(q.params()) == q
