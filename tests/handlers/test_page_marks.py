"""The page marks over HTTP: the API, console and template send options, and the public
page-verification link a page's QR code opens."""

from __future__ import annotations

import json

import pytest
from aiohttp import FormData
from sqlalchemy import select

from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from core.signing.timestamping import HttpTimeStamperSpec
from storage.models import Contract, ContractDocument
from tests.contract_support import parties
from tests.enterprise_factories import id_number
from tests.handlers.test_contracts_api import headers
from tests.handlers.test_contracts_h5 import as_user, csrf_of, upload_draft
from tests.template_support import published_template


@pytest.fixture
async def flow(client, deps):
    deps.timestamper = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    return await parties(deps)


def _api_form(flow, *, person_order: int = 2, **flags: str) -> FormData:
    form = FormData()
    form.add_field("enterprise_id", flow.enterprise_id)
    form.add_field("title", "劳动合同（防抽页）")
    form.add_field("signers", json.dumps([
        {"party": "enterprise", "seal_id": flow.seal_id, "order": 1,
         "boxes": [{"page": 3, "rect": list(ENTERPRISE_BOX)}]},
        {"party": "person", "name": "张三", "phone": flow.employee_phone,
         "order": person_order, "boxes": [{"page": 3, "rect": list(EMPLOYEE_BOX)}]}]))
    for name, value in flags.items():
        form.add_field(name, value)
    form.add_field("file", sample_contract_pdf(3), filename="c.pdf",
                   content_type="application/pdf")
    return form


async def _row(deps, contract_id: str) -> tuple[Contract, ContractDocument]:
    async with deps.db.sessions() as session:
        contract = await session.get(Contract, contract_id)
        doc = (await session.execute(select(ContractDocument).where(
            ContractDocument.contract_id == contract_id))).scalar_one()
    assert contract is not None
    return contract, doc


async def test_api_send_with_both_marks_and_the_page_link_shows_page_n_of_m(
        client, deps, flow) -> None:
    r = await client.post("/api/v1/contracts", headers=await headers(deps, flow.admin_id),
                          data=_api_form(flow, page_qr="true", cross_seal="true"))
    assert r.status == 201, await r.text()
    contract, doc = await _row(deps, (await r.json())["id"])
    assert contract.page_qr and contract.cross_seal and contract.page_token
    page = await client.get(f"/verify/c/{contract.page_token}", params={"p": "2"})
    html = await page.text()
    assert page.status == 200
    assert "第 2 页 / 共 3 页" in html and "劳动合同（防抽页）" in html
    assert contract.number and contract.number in html and doc.current_sha256 in html
    assert '<span id="page-state">签署中</span>' in html
    wrong = await (await client.get(f"/verify/c/{contract.page_token}?p=9")).text()
    assert "页码无效" in wrong and "共 3 页" in wrong


@pytest.mark.parametrize("token", ["nope", "x" * 40, "%E6%9C%89"])
async def test_unknown_page_link_is_a_chinese_404(client, deps, flow, token: str) -> None:
    r = await client.get(f"/verify/c/{token}?p=1")
    assert r.status == 404 and "核验链接无效" in await r.text()


async def test_api_refuses_bad_flags_and_a_seal_after_the_person(client, deps, flow) -> None:
    h = await headers(deps, flow.admin_id)
    r = await client.post("/api/v1/contracts", headers=h,
                          data=_api_form(flow, page_qr="maybe"))
    assert r.status == 400 and (await r.json())["error"]["field"] == "page_qr"
    r = await client.post("/api/v1/contracts", headers=h,
                          data=_api_form(flow, person_order=1, cross_seal="1"))
    assert r.status == 400 and (await r.json())["error"]["code"] == "cross_seal_order"


async def test_console_send_form_offers_and_applies_the_marks(client, deps, flow) -> None:
    await as_user(client, deps, flow.admin_id)
    _, edit_url = await upload_draft(client, flow, "劳动合同（控制台防抽页）", pages=3)
    contract_id = edit_url.split("/")[3]
    edit_html = await (await client.get(edit_url)).text()
    assert 'name="page_qr"' in edit_html and 'name="cross_seal"' in edit_html
    fields = {
        "_csrf": csrf_of(edit_html),
        "party_0": "enterprise", "seal_0": flow.seal_id, "order_0": "2",
        "boxes_0": "3,72,110,242,250",
        "party_1": "person", "name_1": "张三", "phone_1": flow.employee_phone,
        "order_1": "1", "boxes_1": "3,330,170,500,250", "page_qr": "1", "cross_seal": "1",
    }
    refused = await client.post(f"/console/contracts/{contract_id}/send", data=fields)
    assert refused.status == 400 and "企业须最先盖章" in await refused.text()
    fields.update({"order_0": "1", "order_1": "2"})
    sent = await client.post(f"/console/contracts/{contract_id}/send", data=fields,
                             allow_redirects=False)
    assert sent.status == 303, await sent.text()
    contract, _ = await _row(deps, contract_id)
    assert contract.page_qr and contract.cross_seal


async def test_template_send_api_applies_the_marks(client, deps, flow) -> None:
    h = await headers(deps, flow.admin_id)
    base = f"/api/v1/enterprises/{flow.enterprise_id}/templates"
    t = await (await client.post(f"{base}/model", json={}, headers=h)).json()
    assert (await client.post(f"{base}/{t['id']}/publish", json={}, headers=h)).status == 200
    r = await client.post(f"{base}/{t['id']}/send", json={
        "signers": [{"role": "emp", "name": "张三", "phone": flow.employee_phone}],
        "values": {"emp_id": id_number(), "emp_name": "张三", "ent_name": "杭州示例",
                   "ent_code": "91330100MA2CXXXX0X", "ent_rep": "李四",
                   "ent_address": "杭州", "emp_phone": flow.employee_phone},
        "page_qr": True}, headers=h)
    assert r.status == 201, await r.text()
    contract, _ = await _row(deps, (await r.json())["contract_id"])
    assert contract.page_qr and not contract.cross_seal


async def test_template_send_form_offers_and_applies_the_marks(client, deps, flow) -> None:
    tid = await published_template(deps, flow.admin_id, flow.enterprise_id)
    await as_user(client, deps, flow.admin_id)
    url = f"/console/e/{flow.enterprise_id}/templates/{tid}/send"
    html = await (await client.get(url)).text()
    assert 'name="page_qr"' in html and 'name="cross_seal"' in html
    r = await client.post(url, data={
        "_csrf": csrf_of(html), "action": "send", "name_emp": "张三",
        "phone_emp": flow.employee_phone, "v_emp_id": id_number(), "v_emp_name": "张三",
        "v_ent_name": "杭州示例", "v_ent_code": "91330100MA2CXXXX0X", "v_ent_rep": "李四",
        "v_ent_address": "杭州", "v_emp_phone": flow.employee_phone, "page_qr": "1",
    }, allow_redirects=False)
    assert r.status == 303, await r.text()
    contract_id = r.headers["Location"].split("/")[2].split("?")[0]
    contract, _ = await _row(deps, contract_id)
    assert contract.page_qr and contract.page_token and not contract.cross_seal
