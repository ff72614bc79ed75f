"""The contract ledger over HTTP: the JSON API (list, export, permissions, refusals), the
console page (search, filters, pages, export link, 发起合同), the send form's options and
the employee's 抄送我的 list."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from aiohttp import FormData
from openpyxl import load_workbook

from core.contracts import ledger
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from core.signing.timestamping import HttpTimeStamperSpec
from core.templates import service
from storage.models import TemplateContract
from tests.contract_support import META, parties, send_contract
from tests.enterprise_factories import make_user, new_phone, user_phone
from tests.handlers.test_contracts_api import headers
from tests.handlers.test_contracts_h5 import as_user, csrf_of, upload_draft
from tests.ledger_support import Row, insert_contracts, member_with, type_ids
from tests.template_support import published_template


@pytest.fixture
async def flow(client, deps):
    deps.timestamper = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    return await parties(deps)


async def test_api_lists_the_ledger_with_filters_and_pages(client, deps, flow) -> None:
    rows = [Row(f"劳动合同{i:03d}", f"员工{i:03d}", new_phone()) for i in range(105)]
    rows.append(Row("派遣合同（唯一）", "派遣员工", new_phone(), business_type="劳务派遣合同"))
    await insert_contracts(deps, flow.enterprise_id, flow.admin_id, rows)
    h = await headers(deps, flow.admin_id)
    url = f"/api/v1/enterprises/{flow.enterprise_id}/contracts"
    first = await (await client.get(url, params={"per_page": "100"}, headers=h)).json()
    assert (first["total"], first["pages"], len(first["items"])) == (106, 2, 100)
    second = await (await client.get(url, params={"per_page": "100", "page": "2"},
                                     headers=h)).json()
    assert len(second["items"]) == 6
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
    types = await type_ids(deps, flow.enterprise_id)
    only = await (await client.get(url, params={"type": types["劳务派遣合同"]},
                                   headers=h)).json()
    assert [i["title"] for i in only["items"]] == ["派遣合同（唯一）"]
    assert only["items"][0]["business_type"] == "劳务派遣合同"
    assert only["items"][0]["number"].startswith("HT")
    found = await (await client.get(url, params={"q": "员工104"}, headers=h)).json()
    assert [i["title"] for i in found["items"]] == ["劳动合同104"]
    for bad, code in (({"page": "0"}, "invalid_page"), ({"state": "x"}, "invalid_state"),
                      ({"sent_from": "yesterday"}, "invalid_date"),
                      ({"per_page": "10000"}, "invalid_page")):
        refused = await client.get(url, params=bad, headers=h)
        assert refused.status == 400
        assert (await refused.json())["error"]["code"] == code


async def test_api_export_is_the_filtered_list_as_xlsx(client, deps, flow) -> None:
    await insert_contracts(deps, flow.enterprise_id, flow.admin_id, [
        Row("保密协议一", "甲", new_phone(), business_type="保密协议"),
        Row("劳动合同二", "乙", new_phone()),
    ])
    h = await headers(deps, flow.admin_id)
    response = await client.get(
        f"/api/v1/enterprises/{flow.enterprise_id}/contracts/export",
        params={"q": "保密"}, headers=h)
    assert response.status == 200
    assert response.content_type.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(await response.read()), read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ledger.EXPORT_HEADER
    assert [r[1] for r in rows[1:]] == ["保密协议一"]


async def test_api_keeps_business_types_apart_and_outsiders_out(client, deps, flow) -> None:
    await insert_contracts(deps, flow.enterprise_id, flow.admin_id, [
        Row("劳动合同甲", "甲", new_phone()),
        Row("实习协议乙", "乙", new_phone(), business_type="实习协议"),
    ])
    limited = await member_with(deps, flow.enterprise_id, flow.admin_id, types=("实习协议",))
    url = f"/api/v1/enterprises/{flow.enterprise_id}/contracts"
    listed = await (await client.get(url, headers=await headers(deps, limited))).json()
    assert [i["title"] for i in listed["items"]] == ["实习协议乙"]
    exported = await client.get(url + "/export", headers=await headers(deps, limited))
    ws = load_workbook(io.BytesIO(await exported.read()), read_only=True).active
    assert [r[1] for r in list(ws.iter_rows(values_only=True))[1:]] == ["实习协议乙"]
    stranger = await make_user(deps, name="外人")
    for path in (url, url + "/export"):
        refused = await client.get(path, headers=await headers(deps, stranger))
        assert refused.status == 404
        assert (await refused.json())["error"]["code"] == "enterprise_not_found"


async def test_api_sends_with_type_confidential_and_cc(client, deps, outbox, flow) -> None:
    watcher = await make_user(deps, name="郑十一")
    types = await type_ids(deps, flow.enterprise_id)
    form = FormData()
    form.add_field("enterprise_id", flow.enterprise_id)
    form.add_field("title", "保密协议（API）")
    form.add_field("signers", json.dumps([
        {"party": "person", "name": "张三", "phone": flow.employee_phone, "order": 1,
         "boxes": [{"page": 3, "rect": list(EMPLOYEE_BOX)}]},
        {"party": "enterprise", "seal_id": flow.seal_id, "order": 2,
         "boxes": [{"page": 3, "rect": list(ENTERPRISE_BOX)}]}]))
    form.add_field("business_type_id", types["保密协议"])
    form.add_field("confidential", "true")
    form.add_field("cc", json.dumps([{"phone": await user_phone(deps, watcher),
                                      "name": "郑十一"}]))
    form.add_field("file", sample_contract_pdf(3), filename="c.pdf",
                   content_type="application/pdf")
    response = await client.post("/api/v1/contracts", data=form,
                                 headers=await headers(deps, flow.admin_id))
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["business_type"] == "保密协议" and body["confidential"]
    assert body["cc"] == ["郑十一"] and body["number"].startswith("HT")
    mine = await (await client.get("/api/v1/contracts", params={"tab": "cc"},
                                   headers=await headers(deps, watcher))).json()
    assert [i["id"] for i in mine["items"]] == [body["id"]]
    searched = await (await client.get(
        "/api/v1/contracts", params={"tab": "cc", "q": "不存在"},
        headers=await headers(deps, watcher))).json()
    assert searched["items"] == []
    bad = await client.get("/api/v1/contracts", params={"state": "nope"},
                           headers=await headers(deps, watcher))
    assert bad.status == 400
    # An HR member with contracts.view does not see the confidential contract.
    hr = await member_with(deps, flow.enterprise_id, flow.admin_id)
    hidden = await client.get(f"/api/v1/contracts/{body['id']}", headers=await headers(deps, hr))
    assert hidden.status == 404


async def test_console_ledger_searches_filters_and_pages(client, deps, flow) -> None:
    now = deps.clock.now()
    rows = [Row(f"劳动合同{i:03d}", f"员工{i:03d}", new_phone(),
                sent_at=now - timedelta(minutes=200 - i)) for i in range(45)]
    await insert_contracts(deps, flow.enterprise_id, flow.admin_id, rows)
    await as_user(client, deps, flow.admin_id)
    base = f"/console/e/{flow.enterprise_id}/contracts"
    html = await (await client.get(base)).text()
    assert "共 45 份" in html and "第 1 / 3 页" in html
    assert f'href="/console/contracts/new?ent={flow.enterprise_id}"' in html
    assert "page=2" in html and f"{base}/export.xlsx" in html
    page3 = await (await client.get(base, params={"page": "3"})).text()
    assert "劳动合同000" in page3 and "劳动合同044" not in page3
    found = await (await client.get(base, params={"q": "员工007"})).text()
    assert "劳动合同007" in found and "共 1 份" in found
    wrong = await client.get(base, params={"sent_from": "2026-99-01"})
    assert wrong.status == 400 and "日期" in await wrong.text()
    export = await client.get(f"{base}/export.xlsx", params={"q": "员工00"})
    ws = load_workbook(io.BytesIO(await export.read()), read_only=True).active
    assert len(list(ws.iter_rows(values_only=True))) == 1 + 10


async def test_every_member_reaches_the_ledger_from_the_console_nav(client, deps, flow) -> None:
    plain = await member_with(deps, flow.enterprise_id, flow.admin_id, role="employee",
                              name="孙七")
    await as_user(client, deps, plain)
    dashboard = await (await client.get(f"/console/e/{flow.enterprise_id}")).text()
    assert f'href="/console/e/{flow.enterprise_id}/contracts"' in dashboard
    page = await client.get(f"/console/e/{flow.enterprise_id}/contracts")
    assert page.status == 200 and "没有符合条件的合同" in await page.text()


async def test_console_send_form_sets_type_confidential_and_cc(client, deps, flow) -> None:
    watcher = await make_user(deps, name="郑十一")
    watcher_phone = await user_phone(deps, watcher)
    types = await type_ids(deps, flow.enterprise_id)
    await as_user(client, deps, flow.admin_id)
    html, _ = await upload_draft(client, flow, "实习协议（控制台）", pages=3)
    assert 'name="business_type_id"' in html and "实习协议" in html
    form = FormData()
    form.add_field("_csrf", csrf_of(html))
    form.add_field("enterprise_id", flow.enterprise_id)
    form.add_field("title", "实习协议（控制台）")
    form.add_field("business_type_id", types["实习协议"])
    form.add_field("file", sample_contract_pdf(3), filename="合同.pdf",
                   content_type="application/pdf")
    uploaded = await client.post("/console/contracts/new", data=form, allow_redirects=False)
    edit_url = uploaded.headers["Location"]
    contract_id = edit_url.split("/")[3]
    edit_html = await (await client.get(edit_url)).text()
    assert 'name="confidential"' in edit_html and 'name="cc_member"' in edit_html
    sent = await client.post(f"/console/contracts/{contract_id}/send", data={
        "_csrf": csrf_of(edit_html),
        "party_0": "enterprise", "seal_0": flow.seal_id, "order_0": "2",
        "boxes_0": "3,72,110,242,250",
        "party_1": "person", "name_1": "张三", "phone_1": flow.employee_phone,
        "order_1": "1", "boxes_1": "3,330,170,500,250",
        "confidential": "1", "cc_phones": f"郑十一 {watcher_phone}",
    }, allow_redirects=False)
    assert sent.status == 303, await sent.text()
    view = await (await client.get(f"/contracts/{contract_id}")).text()
    assert "保密" in view and "抄送：郑十一" in view and "实习协议" in view
    bad = await client.post(f"/console/contracts/{contract_id}/send", data={
        "_csrf": csrf_of(edit_html), "cc_phones": "一 二 三"})
    assert bad.status == 400
    await as_user(client, deps, watcher)
    listed = await (await client.get("/contracts", params={"tab": "cc"})).text()
    assert "实习协议（控制台）" in listed and "抄送我的" in listed
    nothing = await (await client.get("/contracts", params={"tab": "cc", "q": "无此合同"})).text()
    assert "没有符合条件的合同" in nothing
    weird = await client.get("/contracts", params={"tab": "cc", "state": "nope"})
    assert weird.status == 400 and "合同状态无效" in await weird.text()


async def test_old_enterprise_list_callers_still_get_the_newest(deps, flow) -> None:
    from core.contracts import access

    first = await send_contract(deps, flow, title="第一份")
    items = await access.enterprise_contracts(deps, flow.admin_id, flow.enterprise_id)
    assert [i.id for i in items] == [first]


async def test_console_ledger_filters_by_template_and_acts_on_the_selection(
        client, deps, outbox, flow) -> None:
    tid = await published_template(deps, flow.admin_id, flow.enterprise_id)
    other = await service.import_model(deps, flow.admin_id, flow.enterprise_id,
                                       name="另一个模板", meta=META)
    picked, rest = await insert_contracts(deps, flow.enterprise_id, flow.admin_id, [
        Row("模板合同", "甲", new_phone()), Row("上传合同", "乙", new_phone())])
    async with deps.db.transaction() as tx:  # as core.templates.sending records it
        version = await service.latest_version(tx, flow.enterprise_id, tid)
        tx.session.add(TemplateContract(contract_id=picked, template_id=tid,
                                        version_id=version.id, version=1, employee_fields=[],
                                        created_at=deps.clock.now()))
    await as_user(client, deps, flow.admin_id)
    base = f"/console/e/{flow.enterprise_id}/contracts"
    html = await (await client.get(base, params={"template": tid})).text()
    assert "模板合同" in html and "上传合同" not in html and "共 1 份" in html
    assert f'<option value="{tid}" selected>劳动合同（示范文本）</option>' in html
    assert f'<option value="{other}">另一个模板</option>' in html
    # Check boxes, the row's 催办 and the selection's buttons sit on the filtered ledger.
    assert f'name="ids" value="{picked}"' in html and f'name="one" value="{picked}"' in html
    assert 'id="bulk-urge"' in html and 'id="bulk-revoke-go"' in html
    assert f'action="{base}?template={tid}"' in html
    r = await client.post(f"{base}?template={tid}",
                          data={"_csrf": csrf_of(html), "action": "urge", "ids": [picked]})
    text = await r.text()
    assert r.status == 200 and "已催办 1 份合同" in text
    assert "已催办，10 小时后可再次催办" in text and "上传合同" not in text
    r = await client.post(f"{base}?template={tid}",
                          data={"_csrf": csrf_of(html), "action": "revoke", "ids": [picked],
                                "reason": "信息有误"})
    assert "已撤销 1 份合同" in await r.text()
    listed = await ledger.ledger(deps, flow.admin_id, flow.enterprise_id,
                                 ledger.LedgerQuery(state="revoked"))
    assert [i.id for i in listed.items] == [picked] and rest not in [i.id for i in listed.items]
