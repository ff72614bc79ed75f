"""The batches API and console pages through the real app: a sheet with bad rows, the
preview's per-cell errors, confirm and progress; tasks signed together with one code; the
QR's template; the console's permission rules and bad input (4xx with a code, never 500)."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import FormData

from core.signing.timestamping import HttpTimeStamperSpec
from core.templates import service
from tests.batch_support import header_of, model_row, sheet_with
from tests.contract_support import META, parties
from tests.enterprise_factories import joined_member, new_phone, session_token, user_phone
from tests.factories import get_user, last_code, login_as
from tests.template_support import basic_fields, published_template, short_contract_pdf


@pytest.fixture
async def flow(client, deps):
    deps.timestamper = HttpTimeStamperSpec(str(client.make_url("/tsa")))
    return await parties(deps)


async def headers(deps, user_id: str) -> dict[str, str]:
    user = await get_user(deps, user_id)
    assert user is not None
    return (await login_as(deps, user)).headers


def xlsx_form(data: bytes) -> FormData:
    form = FormData()
    form.add_field("file", data, filename="批量.xlsx",
                   content_type="application/vnd.openxmlformats-officedocument."
                                "spreadsheetml.sheet")
    return form


async def test_xlsx_batch_preview_confirm_and_progress(client, deps, outbox, flow) -> None:
    p, h = flow, await headers(deps, flow.admin_id)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    ent = f"/api/v1/enterprises/{p.enterprise_id}"
    r = await client.get(f"{ent}/templates/{tid}/batch-sheet", headers=h)
    assert r.status == 200 and r.content_type.endswith("spreadsheetml.sheet")
    header = header_of(await r.read())
    rows = [model_row(n, new_phone()) for n in ("王一", "王二", "王三")]
    rows.insert(1, model_row("王四", "1380000"))  # row 3: a bad phone
    r = await client.post(f"{ent}/templates/{tid}/batches/xlsx",
                          data=xlsx_form(sheet_with(header, rows)), headers=h)
    assert r.status == 201, await r.text()
    b = await r.json()
    assert (b["state"], b["total"], b["error_rows"]) == ("draft", 3, 1)
    assert b["errors"] == [{"row": 3, "column": "手机号", "message": b["errors"][0]["message"]}]
    assert "手机号" in b["errors"][0]["message"]
    assert b["preview"][0]["phone_masked"].count("*") >= 4

    r = await client.post(f"{ent}/batches/{b['id']}/confirm", headers=h)
    assert r.status == 200 and (await r.json())["queued"] == 3
    await outbox.drain()
    prog = await (await client.get(f"{ent}/batches/{b['id']}/progress", headers=h)).json()
    assert (prog["state"], prog["created"], prog["notified"], prog["failed"]) == \
        ("finished", 3, 3, 0)
    listed = await (await client.get(f"{ent}/batches", headers=h)).json()
    assert [x["id"] for x in listed["items"]] == [b["id"]]

    # Another enterprise's admin sees nothing of it; a member without contracts.send neither.
    other = await parties(deps)
    oh = await headers(deps, other.admin_id)
    r = await client.get(f"/api/v1/enterprises/{other.enterprise_id}/batches/{b['id']}",
                         headers=oh)
    assert r.status == 404 and (await r.json())["error"]["code"] == "batch_not_found"
    staff = await joined_member(deps, p.enterprise_id, p.admin_id, "employee")
    r = await client.get(f"{ent}/batches/{b['id']}/progress", headers=await headers(deps, staff))
    assert r.status == 403
    r = await client.get(f"{ent}/batches/{b['id']}/progress")
    assert r.status == 401


async def test_bad_batch_input_is_a_4xx_with_a_code(client, deps, flow) -> None:
    p, h = flow, await headers(deps, flow.admin_id)
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    base = f"/api/v1/enterprises/{p.enterprise_id}/templates/{tid}/batches"
    r = await client.post(f"{base}/xlsx", json={}, headers=h)
    assert r.status == 400 and (await r.json())["error"]["code"] == "multipart_required"
    for data in (b"PK\x03\x04 not a zip", b"", "名字,电话".encode()):
        r = await client.post(f"{base}/xlsx", data=xlsx_form(data), headers=h)
        assert 400 <= r.status < 500, await r.text()
        assert (await r.json())["error"]["code"]
    r = await client.post(f"{base}/roster", json={"employee_ids": []}, headers=h)
    assert r.status == 400
    r = await client.post(f"{base}/roster", json={"employee_ids": ["x"] * 1001}, headers=h)
    assert r.status == 400
    r = await client.post(f"{base}/roster", json={"employee_ids": ["nobody"]}, headers=h)
    assert r.status == 400  # the shared sender values are required
    r = await client.post("/api/v1/contracts/sign-together/code",
                          json={"contract_ids": ["a"] * 51}, headers=h)
    assert r.status == 400


async def _plain(deps, p, name: str) -> str:
    fields = [f for f in basic_fields() if f.get("filler") != "employee"]
    tid = await service.create_template(
        deps, p.admin_id, p.enterprise_id, name=name, business_type="其他", filename="x.pdf",
        pdf=short_contract_pdf(deps.config), fields=fields, meta=META)
    await service.publish(deps, p.admin_id, p.enterprise_id, tid, meta=META)
    return tid


async def test_a_task_of_three_is_signed_with_one_code(client, deps, outbox, flow) -> None:
    p = flow
    tids = [await _plain(deps, p, n) for n in ("劳动合同", "保密协议", "员工手册确认书")]
    r = await client.post(f"/api/v1/enterprises/{p.enterprise_id}/tasks", json={
        "template_ids": tids, "signer": {"name": "张三", "phone": p.employee_phone},
        "values": {t: {"salary": "9000"} for t in tids}}, headers=await headers(deps, p.admin_id))
    assert r.status == 201, await r.text()
    task_id = (await r.json())["task_id"]
    # The employee's page lists the three documents.
    client.session.cookie_jar.update_cookies(
        {"ls_session": await session_token(deps, p.employee_id)})
    html = await (await client.get(f"/tasks/{task_id}")).text()
    assert html.count('class="task-doc"') == 3
    ids = re.findall(r'href="/contracts/([0-9a-f]{32})" class="task-doc"', html)
    eh = await headers(deps, p.employee_id)
    r = await client.post("/api/v1/contracts/sign-together/code", json={"contract_ids": ids},
                          headers=eh)
    assert r.status == 200, await r.text()
    code = await last_code(deps, outbox, p.employee_phone)
    r = await client.post("/api/v1/contracts/sign-together/confirm",
                          json={"contract_ids": ids, "code": code}, headers=eh)
    assert r.status == 200, await r.text()
    assert [x["state"] for x in (await r.json())["items"]] == ["signed"] * 3
    # Someone else's task is not found.
    other = await parties(deps)
    client.session.cookie_jar.update_cookies(
        {"ls_session": await session_token(deps, other.employee_id)})
    assert (await client.get(f"/tasks/{task_id}")).status == 404


async def test_qr_template_needs_a_published_single_person_template(client, deps, flow) -> None:
    p, h = flow, await headers(deps, flow.admin_id)
    url = f"/api/v1/enterprises/{p.enterprise_id}/onboarding/template"
    assert (await (await client.get(url, headers=h)).json())["template_id"] is None
    draft = await service.import_model(deps, p.admin_id, p.enterprise_id, meta=META)
    r = await client.put(url, json={"template_id": draft}, headers=h)
    assert r.status == 409 and (await r.json())["error"]["code"] == "template_not_published"
    await service.publish(deps, p.admin_id, p.enterprise_id, draft, meta=META)
    r = await client.put(url, json={"template_id": draft}, headers=h)
    assert r.status == 200 and (await r.json())["template_id"] == draft
    r = await client.put(url, json={"template_id": None}, headers=h)
    assert (await r.json())["template_id"] is None


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_console_batch_upload_preview_confirm_and_progress_json(
        client, deps, outbox, flow) -> None:
    p = flow
    tid = await published_template(deps, p.admin_id, p.enterprise_id)
    client.session.cookie_jar.update_cookies({"ls_session": await session_token(deps,
                                                                                p.admin_id)})
    page = f"/console/e/{p.enterprise_id}/templates/{tid}/batch"
    html = await (await client.get(page)).text()
    assert "下载本模板的 Excel 表格" in html and "从花名册选择" in html
    sheet = await (await client.get(page + "/sheet.xlsx")).read()
    rows = [model_row("王一", new_phone()), model_row("王二", "bad")]
    form = aiohttp.FormData()
    form.add_field("_csrf", _csrf(html))
    form.add_field("file", sheet_with(header_of(sheet), rows), filename="b.xlsx")
    r = await client.post(page + "/xlsx", data=form)
    assert r.status == 200 and "/batches/" in str(r.url)
    html = await r.text()
    assert "1 行可发起" in html and "1 行有误" in html and 'class="row-error"' in html
    form = aiohttp.FormData()
    form.add_field("_csrf", _csrf(html))
    r = await client.post(str(r.url.path) + "/confirm", data=form)
    assert r.status == 200 and 'id="batch-progress"' in await r.text()
    await outbox.drain()
    data = await (await client.get(str(r.url.path) + "/progress.json")).json()
    assert (data["state"], data["created"], data["notified"]) == ("finished", 1, 1)
    # Left, the batch is found again on the template's batch page.
    back = await (await client.get(page)).text()
    assert f'href="{r.url.path}"' in back and 'id="batch-recent"' in back
    # Garbage upload: a Chinese message on the page, not a 500.
    form = aiohttp.FormData()
    form.add_field("_csrf", _csrf(html))
    form.add_field("file", b"garbage", filename="b.xlsx")
    r = await client.post(page + "/xlsx", data=form)
    assert 400 <= r.status < 500 and "Excel" in await r.text()
    assert await user_phone(deps, p.admin_id)
