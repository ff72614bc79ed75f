"""The paper archive API and console pages through the real app: one PDF archived by
multipart, a batch with a bad row (per-cell errors), confirm, list, detail, download;
permission and tenant rules; bad input is a 4xx with a code, never a 500."""

from __future__ import annotations

import hashlib

from aiohttp import FormData

from core.signing.samples import sample_contract_pdf
from tests.archive_support import pdfs, row, sheet, zip_of
from tests.enterprise_factories import certified_enterprise
from tests.factories import get_user, login_as
from tests.ledger_support import member_with, type_ids

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def headers(deps, user_id: str) -> dict[str, str]:
    user = await get_user(deps, user_id)
    assert user is not None
    return (await login_as(deps, user)).headers


def one_form(pdf: bytes, **fields: str) -> FormData:
    form = FormData()
    form.add_field("file", pdf, filename="张三.pdf", content_type="application/pdf")
    for k, v in fields.items():
        form.add_field(k, v)
    return form


def batch_form(z: bytes, x: bytes) -> FormData:
    form = FormData()
    form.add_field("zip", z, filename="合同.zip", content_type="application/zip")
    form.add_field("file", x, filename="归档.xlsx", content_type=XLSX)
    return form


async def test_archive_one_then_read_and_download(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    types = await type_ids(deps, ent)
    h = await headers(deps, admin)
    base = f"/api/v1/enterprises/{ent}"
    pdf = sample_contract_pdf(2)
    r = await client.post(f"{base}/archives", headers=h, data=one_form(
        pdf, title="劳动合同（纸质）", business_type_id=types["劳动合同"], name="张三",
        phone="13800138000", signed_on="2025-06-01", start_on="2025-06-01",
        end_on="2028-05-31", number="PAPER-001", remarks="原件在档案室"))
    assert r.status == 201, await r.text()
    a = await r.json()
    assert (a["state"], a["number"], a["sha256"]) == (
        "archived", "PAPER-001", hashlib.sha256(pdf).hexdigest())
    r = await client.get(f"{base}/archives", headers=h)
    assert [i["id"] for i in (await r.json())["items"]] == [a["id"]]
    r = await client.get(f"{base}/archives/{a['id']}", headers=h)
    assert (await r.json())["remarks"] == "原件在档案室"
    r = await client.get(f"{base}/archives/{a['id']}/document", headers=h)
    assert r.status == 200 and await r.read() == pdf
    assert r.headers["X-Document-SHA256"] == a["sha256"]


async def test_duplicate_number_is_a_409_with_a_code(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    types = await type_ids(deps, ent)
    h = await headers(deps, admin)
    fields = dict(title="劳动合同", business_type_id=types["劳动合同"], name="张三",
                  phone="13800138000", signed_on="2025-06-01", number="N-1")
    url = f"/api/v1/enterprises/{ent}/archives"
    assert (await client.post(url, headers=h,
                              data=one_form(sample_contract_pdf(1), **fields))).status == 201
    r = await client.post(url, headers=h, data=one_form(sample_contract_pdf(1), **fields))
    assert r.status == 409 and (await r.json())["error"]["code"] == "duplicate_number"


async def test_bad_input_is_a_4xx_with_a_code(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    types = await type_ids(deps, ent)
    h = await headers(deps, admin)
    url = f"/api/v1/enterprises/{ent}/archives"
    good = dict(title="劳动合同", business_type_id=types["劳动合同"], name="张三",
                phone="13800138000", signed_on="2025-06-01")
    cases = [
        (one_form(b"hello", **good), "pdf_invalid"),
        (one_form(sample_contract_pdf(1), **{**good, "signed_on": "2025-02-30"}),
         "invalid_date"),
        (one_form(sample_contract_pdf(1), **{**good, "phone": "12"}), "invalid_phone"),
        (one_form(sample_contract_pdf(1), **{**good, "start_on": "2025-06-01",
                                             "end_on": "2025-01-01"}), "end_before_start"),
    ]
    for form, code in cases:
        r = await client.post(url, headers=h, data=form)
        assert 400 <= r.status < 500, (code, await r.text())
        assert (await r.json())["error"]["code"] == code
    r = await client.post(url, headers=h, json={"title": "x"})
    assert r.status == 400 and (await r.json())["error"]["code"] == "multipart_required"


async def test_batch_with_a_bad_row_then_confirm(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    h = await headers(deps, admin)
    base = f"/api/v1/enterprises/{ent}"
    r = await client.get(f"{base}/archive-template", headers=h)
    assert r.status == 200 and r.content_type == XLSX
    x = sheet([row("a.pdf", "张三", "13800138001"),
               row("b.pdf", "李四", "13800138002", signed="昨天"),
               row("c.pdf", "王五", "13800138003")])
    r = await client.post(f"{base}/archive-batches", headers=h,
                          data=batch_form(zip_of(pdfs("a.pdf", "b.pdf", "c.pdf")), x))
    assert r.status == 201, await r.text()
    b = await r.json()
    assert (b["state"], b["total"], b["error_rows"]) == ("draft", 2, 1)
    assert [(e["row"], e["column"]) for e in b["errors"]] == [(3, "签署日期")]
    r = await client.post(f"{base}/archive-batches/{b['id']}/confirm", headers=h)
    assert r.status == 200 and (await r.json())["archived"] == 2
    r = await client.get(f"{base}/archives?batch_id={b['id']}", headers=h)
    assert (await r.json())["total"] == 2
    r = await client.post(f"{base}/archive-batches/{b['id']}/confirm", headers=h)
    assert r.status == 409
    r = await client.delete(f"{base}/archive-batches/{b['id']}", headers=h)
    assert r.status == 409 and (await r.json())["error"]["code"] == "batch_not_draft"


async def test_a_wrong_batch_is_discarded_by_the_api_and_the_console(client, deps) -> None:
    from tests.identity_support import csrf_from

    ent, admin = await certified_enterprise(deps)
    h = await headers(deps, admin)
    base = f"/api/v1/enterprises/{ent}"

    async def draft() -> str:
        r = await client.post(f"{base}/archive-batches", headers=h, data=batch_form(
            zip_of(pdfs("a.pdf")), sheet([row("a.pdf", "张三", "13800138001")])))
        assert r.status == 201
        return str((await r.json())["id"])

    bid = await draft()
    anonymous = await client.delete(f"{base}/archive-batches/{bid}", json={})
    assert anonymous.status == 401, await anonymous.text()
    r = await client.delete(f"{base}/archive-batches/{bid}", headers=h)
    assert r.status == 200 and (await r.json())["ok"] is True
    assert (await client.get(f"{base}/archive-batches/{bid}", headers=h)).status == 404
    assert (await client.delete(f"{base}/archive-batches/{bid}", headers=h)).status == 404

    bid = await draft()
    user = await get_user(deps, admin)
    assert user is not None
    client.session.cookie_jar.update_cookies(
        {"ls_session": (await login_as(deps, user)).session.token})
    page = await client.get(f"/console/e/{ent}/archive/batches/{bid}")
    html = await page.text()
    assert "archive-discard" in html
    r = await client.post(f"/console/e/{ent}/archive/batches/{bid}/discard",
                          data={"_csrf": csrf_from(html)}, allow_redirects=False)
    assert r.status == 303 and "batch_discarded" in r.headers["Location"]
    assert "已放弃该批次" in await (await client.get(r.headers["Location"])).text()
    assert (await client.get(f"/console/e/{ent}/archive/batches/{bid}")).status == 404


async def test_bad_zip_is_a_400(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    h = await headers(deps, admin)
    r = await client.post(f"/api/v1/enterprises/{ent}/archive-batches", headers=h,
                          data=batch_form(zip_of({"../x.pdf": b"1"}),
                                          sheet([row("x.pdf", "张三", "13800138001")])))
    assert r.status == 400 and (await r.json())["error"]["code"] == "bad_zip"


async def test_bad_sheets_are_a_4xx(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    h = await headers(deps, admin)
    z = zip_of(pdfs("a.pdf"))
    for x, code in ((b"garbage", "not_xlsx"), (sheet([], header=["姓名"]), "bad_template"),
                    (sheet([]), "empty_import"), (b"", "empty_upload")):
        r = await client.post(f"/api/v1/enterprises/{ent}/archive-batches", headers=h,
                              data=batch_form(z, x))
        assert 400 <= r.status < 500, (code, await r.text())
        assert (await r.json())["error"]["code"] == code


async def test_permission_and_tenant_rules(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    types = await type_ids(deps, ent)
    legal = await member_with(deps, ent, admin, role="legal")
    other_ent, other_admin = await certified_enterprise(deps, name="另一家科技有限公司")
    fields = dict(title="劳动合同", business_type_id=types["劳动合同"], name="张三",
                  phone="13800138000", signed_on="2025-06-01")
    url = f"/api/v1/enterprises/{ent}/archives"
    r = await client.post(url, headers=await headers(deps, legal),
                          data=one_form(sample_contract_pdf(1), **fields))
    assert r.status == 403
    r = await client.post(url, headers=await headers(deps, other_admin),
                          data=one_form(sample_contract_pdf(1), **fields))
    assert r.status == 404
    r = await client.post(url, headers=await headers(deps, admin),
                          data=one_form(sample_contract_pdf(1), **fields))
    cid = (await r.json())["id"]
    oh = await headers(deps, other_admin)
    assert (await client.get(f"{url}/{cid}", headers=oh)).status == 404
    r = await client.get(f"/api/v1/enterprises/{other_ent}/archives/{cid}", headers=oh)
    assert r.status == 404
    assert (await client.get(f"{url}/{cid}")).status == 401


async def test_console_pages_archive_and_show_a_batch(client, deps) -> None:
    ent, admin = await certified_enterprise(deps)
    user = await get_user(deps, admin)
    assert user is not None
    logged = await login_as(deps, user)
    client.session.cookie_jar.update_cookies({"ls_session": logged.session.token})
    r = await client.get(f"/console/e/{ent}/contracts")
    assert f"/console/e/{ent}/archive" in await r.text()
    r = await client.get(f"/console/e/{ent}/archive")
    assert r.status == 200 and "单份归档" in await r.text()
    r = await client.get(f"/console/e/{ent}/archive?tab=batch")
    assert "下载归档表格模板" in await r.text()
    r = await client.get(f"/console/e/{ent}/archive/nope")
    assert r.status == 404

    # The single-archive form, as the page posts it: a date typed the Chinese way is read.
    from tests.identity_support import csrf_from

    page = await (await client.get(f"/console/e/{ent}/archive")).text()
    types = await type_ids(deps, ent)
    fields = {"_csrf": csrf_from(page), "title": "纸质劳动合同",
              "business_type_id": types["劳动合同"], "name": "王五", "phone": "13800138001",
              "start_on": "2025-06-01", "end_on": "2028-05-31"}
    bad = await client.post(f"/console/e/{ent}/archive", allow_redirects=False,
                            data=one_form(sample_contract_pdf(1), **fields,
                                          signed_on="2025-02-30"))
    assert bad.status == 400 and "签署日期" in await bad.text()  # no 29/30/31 Feb: said
    sent = await client.post(f"/console/e/{ent}/archive", allow_redirects=False,
                             data=one_form(sample_contract_pdf(1), **fields,
                                           signed_on="2025年5月20日"))
    assert sent.status == 303, await sent.text()
    shown = await (await client.get(sent.headers["Location"])).text()
    assert "纸质劳动合同" in shown and "2025-05-20" in shown and "王五" in shown


async def test_pages_linked_from_an_archived_contract_never_fail(client, deps) -> None:
    """The contract page, its trail, evidence pages and downloads: every link followed from
    an archived contract answers without a server error."""
    import re
    from collections import deque

    ent, admin = await certified_enterprise(deps)
    types = await type_ids(deps, ent)
    h = await headers(deps, admin)
    r = await client.post(f"/api/v1/enterprises/{ent}/archives", headers=h, data=one_form(
        sample_contract_pdf(1), title="劳动合同", business_type_id=types["劳动合同"],
        name="张三", phone="13800138000", signed_on="2025-06-01"))
    cid = (await r.json())["id"]
    user = await get_user(deps, admin)
    assert user is not None
    client.session.cookie_jar.update_cookies(
        {"ls_session": (await login_as(deps, user)).session.token})
    queue = deque([f"/console/e/{ent}/archive/{cid}", f"/contracts/{cid}",
                   f"/console/contracts/{cid}/trail"])
    seen: dict[str, int] = {}
    while queue and len(seen) < 60:
        path = queue.popleft()
        if path in seen:
            continue
        resp = await client.get(path)
        seen[path] = resp.status
        if "text/html" in resp.headers.get("Content-Type", ""):
            for href in re.findall(r'href="(/[^"]*)"', await resp.text()):
                if cid in href and href not in seen:
                    queue.append(href.replace("&amp;", "&"))
    assert len(seen) > 4, seen
    assert not [p for p, s in seen.items() if s >= 500], seen
    for tail in ("evidence-report.pdf", "evidence.zip"):
        resp = await client.get(f"/contracts/{cid}/{tail}")
        assert resp.status == 409, tail
