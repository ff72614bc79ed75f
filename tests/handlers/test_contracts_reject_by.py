"""Who may refuse to sign (拒签), chosen on the console send form, the API and the
template send; the contract page then hides 拒签 from the others."""

from __future__ import annotations

from tests.contract_support import parties
from tests.handlers.test_contracts_api import headers
from tests.handlers.test_contracts_h5 import as_user, csrf_of, upload_draft
from tests.handlers.test_page_marks import _api_form, _row


async def test_api_takes_the_choice_and_refuses_an_unknown_one(client, deps) -> None:
    flow = await parties(deps)
    h = await headers(deps, flow.admin_id)
    r = await client.post("/api/v1/contracts", headers=h,
                          data=_api_form(flow, reject_by="nobody"))
    assert r.status == 400 and (await r.json())["error"]["field"] == "reject_by"
    r = await client.post("/api/v1/contracts", headers=h,
                          data=_api_form(flow, person_order=1, reject_by="enterprises"))
    assert r.status == 201, await r.text()
    contract_id = (await r.json())["id"]
    contract, _ = await _row(deps, contract_id)
    assert contract.reject_by == "enterprises"
    refused = await client.post(f"/api/v1/contracts/{contract_id}/reject",
                                json={"reason": "不同意"},
                                headers=await headers(deps, flow.employee_id))
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "reject_not_allowed"


async def test_console_form_offers_the_choice_and_the_page_follows_it(client, deps) -> None:
    flow = await parties(deps)
    await as_user(client, deps, flow.admin_id)
    _, edit_url = await upload_draft(client, flow, "劳动合同（不可拒签）", pages=3)
    contract_id = edit_url.split("/")[3]
    edit_html = await (await client.get(edit_url)).text()
    assert 'name="reject_by"' in edit_html and "不允许拒签" in edit_html
    sent = await client.post(f"/console/contracts/{contract_id}/send", data={
        "_csrf": csrf_of(edit_html),
        "party_0": "person", "name_0": "张三", "phone_0": flow.employee_phone,
        "order_0": "1", "boxes_0": "3,330,170,500,250", "reject_by": "none",
    }, allow_redirects=False)
    assert sent.status == 303, await sent.text()
    contract, _ = await _row(deps, contract_id)
    assert contract.reject_by == "none"
    await as_user(client, deps, flow.employee_id)
    page = await (await client.get(f"/contracts/{contract_id}")).text()
    assert "确认拒签" not in page and "去签署" in page


async def test_template_send_api_takes_the_choice(client, deps) -> None:
    from tests.enterprise_factories import id_number

    flow = await parties(deps)
    h = await headers(deps, flow.admin_id)
    base = f"/api/v1/enterprises/{flow.enterprise_id}/templates"
    t = await (await client.post(f"{base}/model", json={}, headers=h)).json()
    assert (await client.post(f"{base}/{t['id']}/publish", json={}, headers=h)).status == 200
    body = {"signers": [{"role": "emp", "name": "张三", "phone": flow.employee_phone}],
            "values": {"emp_id": id_number(), "emp_name": "张三", "ent_name": "杭州示例",
                       "ent_code": "91330100MA2CXXXX0X", "ent_rep": "李四",
                       "ent_address": "杭州", "emp_phone": flow.employee_phone}}
    r = await client.post(f"{base}/{t['id']}/send", json={**body, "reject_by": "sometimes"},
                          headers=h)
    assert r.status == 400
    r = await client.post(f"{base}/{t['id']}/send", json={**body, "reject_by": "persons"},
                          headers=h)
    assert r.status == 201, await r.text()
    contract, _ = await _row(deps, (await r.json())["contract_id"])
    assert contract.reject_by == "persons"
