"""The ledger with templates and the lifecycle: the template filter, the business type a
template gives its contracts, type-limited members and templates, and the urge / revoke
fields of the ledger's rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.contracts import access, ending, ledger, urging
from core.contracts.ledger import LedgerQuery, parse_query
from core.errors import InvalidInput, NotFound
from core.templates import sending, service
from storage.models import Contract
from tests.contract_support import META, parties, send_contract, start_tsa
from tests.enterprise_factories import id_number, new_phone
from tests.ledger_support import Row, insert_contracts, member_with, type_ids
from tests.template_support import basic_fields, published_template, short_contract_pdf

LABOUR_VALUES = {"ent_name": "杭州示例劳务科技有限公司", "ent_code": "91330000MA0000000X",
                 "ent_rep": "李四", "ent_address": "杭州市", "emp_name": "张三",
                 "emp_id": id_number()}


async def _ids(deps, user_id, ent, **query) -> list[str]:
    page = await ledger.ledger(deps, user_id, ent, LedgerQuery(per_page=100, **query))
    return [i.id for i in page.items]


async def _nda_template(deps, admin_id: str, ent: str) -> str:
    tid = await service.create_template(
        deps, admin_id, ent, name="保密协议模板", business_type="保密协议",
        filename="保密协议.pdf", pdf=short_contract_pdf(deps.config), meta=META,
        fields=basic_fields())
    await service.publish(deps, admin_id, ent, tid, meta=META)
    return tid


async def test_template_filter_type_and_type_limited_members(deps, outbox,
                                                             aiohttp_server) -> None:
    await start_tsa(deps, aiohttp_server)
    p = await parties(deps)
    ent = p.enterprise_id
    labour_tid = await published_template(deps, p.admin_id, ent)
    nda_tid = await _nda_template(deps, p.admin_id, ent)
    labour = await sending.send_from_template(
        deps, p.admin_id, ent, labour_tid,
        parties={"emp": sending.Party("张三", p.employee_phone)},
        values={**LABOUR_VALUES, "emp_phone": p.employee_phone}, meta=META)
    nda = await sending.send_from_template(
        deps, p.admin_id, ent, nda_tid, parties={"emp": sending.Party("李四", new_phone())},
        values={"emp_name": "李四", "salary": "8000"}, meta=META)
    plain = await send_contract(deps, p, title="上传的合同")

    # The contract takes the enterprise's business type with the template's name.
    types = await type_ids(deps, ent)
    async with deps.db.sessions() as s:
        kinds = dict((await s.execute(select(Contract.id, Contract.business_type_id))).all())
    assert kinds[labour] == types["劳动合同"] and kinds[nda] == types["保密协议"]

    # The template filter keeps what was sent from that template, nothing else.
    assert await _ids(deps, p.admin_id, ent, template_id=labour_tid) == [labour]
    assert await _ids(deps, p.admin_id, ent, template_id=nda_tid) == [nda]
    assert set(await _ids(deps, p.admin_id, ent)) == {labour, nda, plain}
    assert await _ids(deps, p.admin_id, ent, template_id="nosuchtemplate") == []
    query = parse_query({"template": nda_tid})
    assert query.template_id == nda_tid and query.params()["template"] == nda_tid
    export = await ledger.export(deps, p.admin_id, ent, query)
    assert export.rows == 1
    with pytest.raises(InvalidInput):
        parse_query({"template": "bad id!"})
    names = [t.name for t in (await ledger.choices(deps, p.admin_id, ent)).templates]
    assert sorted(names) == sorted(["劳动合同（示范文本）", "保密协议模板"])

    # A member limited to 保密协议 sees and sends only 保密协议 templates.
    limited = await member_with(deps, ent, p.admin_id, types=("保密协议",))
    assert [t.id for t in await service.list_templates(deps, limited, ent)] == [nda_tid]
    assert [t.id for t in (await ledger.choices(deps, limited, ent)).templates] == [nda_tid]
    with pytest.raises(NotFound):
        await service.get_template(deps, limited, ent, labour_tid)
    with pytest.raises(NotFound):
        await sending.send_from_template(
            deps, limited, ent, labour_tid,
            parties={"emp": sending.Party("王五", new_phone())},
            values={**LABOUR_VALUES, "emp_name": "王五"}, meta=META)
    with pytest.raises(InvalidInput):
        await service.create_template(
            deps, limited, ent, name="劳动合同二", business_type="劳动合同",
            filename="a.pdf", pdf=short_contract_pdf(deps.config), meta=META)
    sent = await sending.send_from_template(
        deps, limited, ent, nda_tid, parties={"emp": sending.Party("王五", new_phone())},
        values={"emp_name": "王五", "salary": "9000"}, meta=META)
    assert set(await _ids(deps, limited, ent)) == {nda, sent}
    assert await _ids(deps, limited, ent, template_id=labour_tid) == []


async def test_ledger_rows_say_who_may_urge_and_revoke(deps, outbox, clock) -> None:
    p = await parties(deps)
    ent = p.enterprise_id
    live, done, overdue, nda = await insert_contracts(deps, ent, p.admin_id, [
        Row("签署中", "甲", new_phone()),
        Row("已完成", "乙", new_phone(), state="completed"),
        Row("已超期", "丙", new_phone(), deadline=clock.now() + timedelta(hours=1)),
        Row("保密协议", "丁", new_phone(), business_type="保密协议"),
    ])
    clock.advance(hours=2)
    page = await ledger.ledger(deps, p.admin_id, ent, LedgerQuery())
    rows = {i.id: i for i in page.items}
    assert page.can_manage
    assert rows[live].can_urge and rows[live].can_revoke and rows[live].manageable
    assert not rows[done].manageable
    # Past its deadline a contract reads as expired at once, in the rows and the filters.
    assert (rows[overdue].state, rows[overdue].state_label) == ("expired", "已过期")
    assert not rows[overdue].can_urge and not rows[overdue].can_revoke
    assert await _ids(deps, p.admin_id, ent, state="expired") == [overdue]
    assert overdue in await _ids(deps, p.admin_id, ent, state="ended")
    assert overdue not in await _ids(deps, p.admin_id, ent, state="in_progress")

    await urging.urge_contract(deps, p.admin_id, live, META, enterprise_id=ent)
    [row] = (await ledger.ledger(deps, p.admin_id, ent, LedgerQuery(q="签署中"))).items
    assert not row.can_urge and row.urge_label == "已催办，10 小时后可再次催办"
    [item] = [i for i in await access.enterprise_contracts(deps, p.admin_id, ent)
              if i.id == live]
    assert item.urge_label == row.urge_label and item.can_revoke

    # A sender limited to 劳动合同 neither sees nor touches the 保密协议 contract.
    limited = await member_with(deps, ent, p.admin_id, types=("劳动合同",))
    assert nda not in await _ids(deps, limited, ent)
    [outcome] = await ending.revoke_many(deps, limited, [nda], "不需要了", META,
                                         enterprise_id=ent)
    assert not outcome.ok and outcome.code == "contract_not_found"
    [urged] = await urging.urge_many(deps, limited, [nda], META, enterprise_id=ent)
    assert not urged.ok and urged.code == "contract_not_found"
    assert (await ledger.ledger(deps, limited, ent, LedgerQuery(q="签署中"))).items[0].can_revoke
