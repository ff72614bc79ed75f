"""Evidence pages and API through the real app: the disclosure before a first signing,
the trail on the phone and in the console, report and package downloads with permission
checks, the paper-copy request and its console handling, batch exports; refusals as
pages and stable codes, never 500s."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from core.contracts import disclosure
from core.signing.timestamping import HttpTimeStamperSpec
from tests.contract_support import (
    company,
    employee,
    parties,
    person,
    send_contract,
    sign_as,
)
from tests.enterprise_factories import make_user, user_phone
from tests.factories import get_user, login_as
from tests.handlers.test_contracts_h5 import as_user, csrf_of


@pytest.fixture
async def app_flow(client, deps):
    deps.timestamper = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    return await parties(deps)


async def bearer(deps, user_id: str) -> dict[str, str]:
    """API calls as a server-to-server client would make them (Authorization: Bearer)."""
    return (await login_as(deps, await get_user(deps, user_id))).headers


async def _completed(deps, outbox, flow) -> str:
    contract_id = await send_contract(deps, flow)
    await sign_as(deps, outbox, flow.employee_id, contract_id)
    await sign_as(deps, outbox, flow.sealer_id, contract_id)
    return contract_id


async def test_first_signing_goes_through_the_disclosure(client, deps, outbox,
                                                         app_flow) -> None:
    newcomer = await employee(deps, name="王五", disclosed=False)
    phone = await user_phone(deps, newcomer)
    contract_id = await send_contract(deps, app_flow, [person(phone, name="王五"),
                                                       company(app_flow.seal_id)])
    await as_user(client, deps, newcomer)
    sign = await client.get(f"/contracts/{contract_id}/sign", allow_redirects=False)
    assert sign.status == 302
    assert sign.headers["Location"] == f"/contracts/{contract_id}/disclosure"
    page = await client.get(f"/contracts/{contract_id}/disclosure",
                            headers={"User-Agent": "test-phone/1.0"})
    html = await page.text()
    assert page.status == 200 and "电子劳动合同签约告知书" in html and "纸质" in html
    # The API refuses the code until it is accepted.
    code = await client.post(f"/api/v1/contracts/{contract_id}/sign/code", json={},
                             headers=await bearer(deps, newcomer))
    assert code.status == 409 and (await code.json())["error"]["code"] == "disclosure_required"
    # Not ticked: the page again, with the message.
    refused = await client.post(f"/contracts/{contract_id}/disclosure",
                                data={"_csrf": csrf_of(html)})
    assert refused.status == 400 and "请勾选" in await refused.text()
    done = await client.post(f"/contracts/{contract_id}/disclosure",
                             data={"_csrf": csrf_of(html), "agree": "1"},
                             allow_redirects=False)
    assert done.status == 303 and done.headers["Location"].endswith("/sign")
    assert await disclosure.is_accepted(deps, newcomer)
    sign = await client.get(f"/contracts/{contract_id}/sign", allow_redirects=False)
    assert sign.status == 200


async def test_trail_downloads_and_paper_copy_on_the_phone(client, deps, outbox,
                                                           app_flow) -> None:
    contract_id = await _completed(deps, outbox, app_flow)
    await as_user(client, deps, app_flow.employee_id)
    view = await (await client.get(f"/contracts/{contract_id}")).text()
    assert f"/contracts/{contract_id}/trail" in view
    trail = await client.get(f"/contracts/{contract_id}/trail")
    html = await trail.text()
    assert trail.status == 200
    for needle in ("签署轨迹", "短信验证码", "验证码确认", "申请纸质副本", "dl-report", "dl-zip"):
        assert needle in html, needle
    report = await client.get(f"/contracts/{contract_id}/evidence-report.pdf")
    assert report.status == 200 and (await report.read()).startswith(b"%PDF")
    assert report.headers["Content-Type"] == "application/pdf"
    pkg = await client.get(f"/contracts/{contract_id}/evidence.zip")
    assert pkg.status == 200
    assert "contract.pdf" in zipfile.ZipFile(io.BytesIO(await pkg.read())).namelist()
    asked = await client.post(f"/contracts/{contract_id}/paper-copy",
                              data={"_csrf": csrf_of(html), "note": "到人事部领取"},
                              allow_redirects=False)
    assert asked.status == 303
    html = await (await client.get(f"/contracts/{contract_id}/trail?done=paper")).text()
    assert "已申请" in html and "到人事部领取" in html and "paper-form" not in html

    # HR: the request in the console, marked step by step.
    await as_user(client, deps, app_flow.admin_id)
    listing = await client.get(f"/console/e/{app_flow.enterprise_id}/paper-copies")
    page = await listing.text()
    assert listing.status == 200 and "张三" in page and "标记已打印" in page
    rid = re.search(r'id="paper-([0-9a-f]+)"', page).group(1)
    for step in ("printed", "stamped", "handed_over"):
        r = await client.post(f"/console/e/{app_flow.enterprise_id}/paper-copies/{rid}",
                              data={"_csrf": csrf_of(page), "state": step},
                              allow_redirects=False)
        assert r.status == 303, await r.text()
    out_of_order = await client.post(
        f"/console/e/{app_flow.enterprise_id}/paper-copies/{rid}",
        data={"_csrf": csrf_of(page), "state": "bogus"})
    assert out_of_order.status == 400
    done = await (await client.get(
        f"/console/e/{app_flow.enterprise_id}/paper-copies?state=done")).text()
    assert "已交付" in done
    console_trail = await client.get(f"/console/contracts/{contract_id}/trail")
    assert console_trail.status == 200 and "纸质副本已交付" in await console_trail.text()


async def test_outsiders_get_404_and_bad_input_is_a_4xx(client, deps, outbox,
                                                        app_flow) -> None:
    contract_id = await _completed(deps, outbox, app_flow)
    stranger = await make_user(deps, name="路人")
    await as_user(client, deps, stranger)
    auth = await bearer(deps, stranger)
    for path in (f"/contracts/{contract_id}/trail", f"/contracts/{contract_id}/evidence.zip",
                 f"/contracts/{contract_id}/evidence-report.pdf",
                 f"/console/contracts/{contract_id}/trail", "/contracts/nope/trail",
                 f"/contracts/{'x' * 300}/evidence.zip",
                 f"/api/v1/contracts/{contract_id}/trail",
                 f"/api/v1/contracts/{contract_id}/evidence-report",
                 "/console/exports/nope/download", "/api/v1/evidence-exports/x/download"):
        r = await client.get(path, headers=auth if path.startswith("/api/") else None)
        assert r.status == 404, (path, r.status)
    r = await client.get(f"/console/e/{app_flow.enterprise_id}/paper-copies")
    assert r.status in (403, 404)
    r = await client.post(f"/api/v1/contracts/{contract_id}/paper-copy", json={"note": 5},
                          headers=auth)
    assert r.status == 400
    r = await client.post("/api/v1/paper-copies/x", json={"state": "printed"}, headers=auth)
    assert r.status == 404
    r = await client.post(f"/api/v1/enterprises/{app_flow.enterprise_id}/evidence-exports",
                          json={"contract_ids": ["x"] * 51}, headers=auth)
    assert r.status == 400


async def test_api_trail_report_and_batch_export(client, deps, outbox, app_flow) -> None:
    contract_id = await _completed(deps, outbox, app_flow)
    await as_user(client, deps, app_flow.admin_id)
    hr = await bearer(deps, app_flow.admin_id)
    trail = await client.get(f"/api/v1/contracts/{contract_id}/trail", headers=hr)
    body = await trail.json()
    assert trail.status == 200 and body["parties"][0]["intent"]["method"] == "短信验证码"
    assert body["entries"][0]["action"] == "contract.created"
    report = await client.get(f"/api/v1/contracts/{contract_id}/evidence-report", headers=hr)
    assert report.status == 200 and report.headers["Content-Type"] == "application/pdf"
    made = await client.post(f"/api/v1/enterprises/{app_flow.enterprise_id}/evidence-exports",
                             json={"contract_ids": [contract_id]}, headers=hr)
    assert made.status == 202, await made.text()
    export_id = (await made.json())["id"]
    await outbox.drain()
    listed = await (await client.get(
        f"/api/v1/enterprises/{app_flow.enterprise_id}/evidence-exports", headers=hr)).json()
    assert listed["items"][0]["state"] == "ready"
    zipped = await client.get(f"/api/v1/evidence-exports/{export_id}/download", headers=hr)
    assert zipped.status == 200
    names = zipfile.ZipFile(io.BytesIO(await zipped.read())).namelist()
    assert any(n.endswith("/evidence-report.pdf") for n in names)
    page = await client.get(f"/console/e/{app_flow.enterprise_id}/exports")
    assert page.status == 200 and f"/console/exports/{export_id}/download" in await page.text()

    # The worker asks for a paper copy over the API; HR moves it on.
    asked = await client.post(f"/api/v1/contracts/{contract_id}/paper-copy", json={},
                              headers=await bearer(deps, app_flow.employee_id))
    assert asked.status == 201
    rid = (await asked.json())["id"]
    bad = await client.post(f"/api/v1/paper-copies/{rid}", json={"state": "stamped"},
                            headers=hr)
    assert bad.status == 409 and (await bad.json())["error"]["code"] == \
        "paper_copy_out_of_order"
    ok = await client.post(f"/api/v1/paper-copies/{rid}", json={"state": "printed"},
                           headers=hr)
    assert ok.status == 200 and (await ok.json())["state"] == "printed"
