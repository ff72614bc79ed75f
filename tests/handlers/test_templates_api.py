"""The templates API: create, fields, the labour-law refusal, publish, versions, preview, send,
and the console's permission rules."""

from __future__ import annotations

import pytest
from aiohttp import FormData

from core.signing.timestamping import HttpTimeStamperSpec
from tests.contract_support import parties
from tests.enterprise_factories import id_number, joined_member
from tests.factories import get_user, login_as
from tests.template_support import basic_fields, short_contract_pdf


@pytest.fixture
async def api_flow(client, deps):
    deps.timestamper = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    return await parties(deps)


async def headers(deps, user_id: str) -> dict[str, str]:
    user = await get_user(deps, user_id)
    assert user is not None
    return (await login_as(deps, user)).headers


def upload(pdf: bytes, **fields: str) -> FormData:
    form = FormData()
    for k, v in fields.items():
        form.add_field(k, v)
    form.add_field("file", pdf, filename="合同.pdf", content_type="application/pdf")
    return form


async def test_build_fail_the_law_check_fix_publish_and_send(client, deps, api_flow) -> None:
    p, h = api_flow, await headers(deps, api_flow.admin_id)
    base = f"/api/v1/enterprises/{p.enterprise_id}/templates"
    r = await client.post(base, data=upload(short_contract_pdf(deps.config), name="研发劳动合同",
                                            business_type="劳动合同"), headers=h)
    assert r.status == 201, await r.text()
    t = await r.json()
    assert t["state"] == "draft" and t["page_count"] == 2
    assert [x["party"] for x in t["roles"]] == ["enterprise", "person"]

    r = await client.put(f"{base}/{t['id']}/fields", json={"fields": basic_fields()}, headers=h)
    assert r.status == 200, await r.text()
    assert len((await r.json())["fields"]) == len(basic_fields())

    check = await (await client.get(f"{base}/{t['id']}/law-check", headers=h)).json()
    assert not check["ok"]
    assert {c["key"] for c in check["clauses"] if not c["ok"]} == {"social_insurance",
                                                                    "protection"}
    r = await client.post(f"{base}/{t['id']}/publish", json={}, headers=h)
    assert r.status == 409
    err = (await r.json())["error"]
    assert err["code"] == "law_check_failed" and len(err["missing"]) == 2

    fixed = short_contract_pdf(deps.config, extra=[
        "五、社会保险：甲方依法为乙方缴纳社会保险。",
        "六、劳动保护、劳动条件和职业危害防护：甲方提供劳动保护和劳动条件，防护职业危害。"])
    r = await client.post(f"{base}/{t['id']}/file", data=upload(fixed), headers=h)
    assert r.status == 200, await r.text()
    assert len((await r.json())["fields"]) == len(basic_fields())
    r = await client.post(f"{base}/{t['id']}/publish", json={}, headers=h)
    assert r.status == 200, await r.text()
    assert (await r.json())["version"] == 1

    versions = await (await client.get(f"{base}/{t['id']}/versions", headers=h)).json()
    assert [v["version"] for v in versions["items"]] == [1]
    assert versions["items"][0]["law_check"]["ok"] is True

    values = {"emp_name": "张三", "salary": "8000", "start": "2027-01-01",
              "emp_id": id_number()}
    r = await client.post(f"{base}/{t['id']}/preview", json={"values": values}, headers=h)
    assert r.status == 200 and r.content_type == "application/pdf"
    r = await client.post(f"{base}/{t['id']}/send", json={
        "signers": [{"role": "emp", "name": "张三", "phone": p.employee_phone}],
        "values": values}, headers=h)
    assert r.status == 201, await r.text()
    sent = await r.json()
    assert sent["version"] == 1
    contract = await (await client.get(f"/api/v1/contracts/{sent['contract_id']}",
                                       headers=h)).json()
    assert contract["state"] == "in_progress" and contract["page_count"] == 2


async def test_bad_values_are_400_with_the_field(client, deps, api_flow) -> None:
    p, h = api_flow, await headers(deps, api_flow.admin_id)
    base = f"/api/v1/enterprises/{p.enterprise_id}/templates"
    t = await (await client.post(f"{base}/model", json={}, headers=h)).json()
    assert (await client.post(f"{base}/{t['id']}/publish", json={}, headers=h)).status == 200
    good = id_number()
    bad_id = good[:17] + ("0" if good[17] != "0" else "1")
    r = await client.post(f"{base}/{t['id']}/send", json={
        "signers": [{"role": "emp", "name": "张三", "phone": p.employee_phone}],
        "values": {"emp_id": bad_id, "emp_name": "张三", "ent_name": "x", "ent_code": "x",
                   "ent_rep": "x", "ent_address": "x", "emp_phone": p.employee_phone}},
        headers=h)
    assert r.status == 400
    assert (await r.json())["error"] == {"code": "invalid_id_number", "field": "emp_id",
                                         "message": "身份证号校验位不正确，请核对"}
    r = await client.put(f"{base}/{t['id']}/fields", json={"fields": [
        {"key": "a", "kind": "text", "placements": [{"page": 9, "x": 0.1, "y": 0.1,
                                                      "w": 0.1, "h": 0.1}]}]}, headers=h)
    assert r.status == 400
    r = await client.put(f"{base}/{t['id']}/fields", json={"fields": [
        {"key": "a", "kind": "text", "placements": [{"page": 0, "x": 0.95, "y": 0.1,
                                                      "w": 0.2, "h": 0.1}]}]}, headers=h)
    assert r.status == 400


async def test_members_without_template_rights_are_refused(client, deps, api_flow) -> None:
    p = api_flow
    staff = await joined_member(deps, p.enterprise_id, p.admin_id, "employee")
    h = await headers(deps, staff)
    base = f"/api/v1/enterprises/{p.enterprise_id}/templates"
    assert (await client.post(f"{base}/model", json={}, headers=h)).status == 403
    assert (await client.get(base, headers=h)).status == 403
    other = await parties(deps)
    outsider = await joined_member(deps, other.enterprise_id, other.admin_id, "hr")
    r = await client.get(base, headers=await headers(deps, outsider))
    assert r.status == 404
