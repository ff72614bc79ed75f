"""Word (.docx) templates through the real app: the API tells a .docx from a PDF by content,
refusals are 4xx JSON with stable codes (415 docx_unsupported without a converter), and the
console page offers .docx only where it can be converted."""

from __future__ import annotations

import re
import shutil

import aiohttp
import pytest
from aiohttp import FormData

from tests.contract_support import parties
from tests.docx_support import make_docx, zip_of
from tests.enterprise_factories import session_token
from tests.factories import get_user, login_as

needs_soffice = pytest.mark.skipif(shutil.which("soffice") is None,
                                   reason="LibreOffice (scripts/setup.sh) not installed")


async def _headers(deps, user_id: str) -> dict[str, str]:
    user = await get_user(deps, user_id)
    assert user is not None
    return (await login_as(deps, user)).headers


def _upload(data: bytes, filename: str, **fields: str) -> FormData:
    form = FormData()
    for k, v in fields.items():
        form.add_field(k, v)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return form


@needs_soffice
async def test_the_api_takes_a_docx_by_its_content_whatever_its_name(client, deps) -> None:
    p = await parties(deps)
    h = await _headers(deps, p.admin_id)
    base = f"/api/v1/enterprises/{p.enterprise_id}/templates"
    r = await client.post(base, data=_upload(make_docx(pages=2), "upload.bin",
                                              name="Word 劳动合同", business_type="劳动合同"),
                          headers=h)
    assert r.status == 201, await r.text()
    t = await r.json()
    assert t["page_count"] == 2 and t["state"] == "draft"
    page = await client.get(f"{base}/{t['id']}/pages/0?w=300", headers=h)
    assert page.status == 200 and (await page.read()).startswith(b"\x89PNG")

    r = await client.post(f"{base}/{t['id']}/file",
                          data=_upload(make_docx(pages=3), "第二版.docx"), headers=h)
    assert r.status == 200, await r.text()
    assert (await r.json())["page_count"] == 3


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"PK\x03\x04garbage", 415, "not_docx"),
    (zip_of({"[Content_Types].xml": b"<Types/>"}), 415, "not_docx"),
    (zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": b" " * (8 << 20)}),
     413, "docx_too_large"),
])
async def test_api_refusals_are_json_with_a_code(client, deps, data, status, code) -> None:
    p = await parties(deps)
    h = await _headers(deps, p.admin_id)
    r = await client.post(f"/api/v1/enterprises/{p.enterprise_id}/templates",
                          data=_upload(data, "x.docx", name="x", business_type="其他"),
                          headers=h)
    assert r.status == status, await r.text()
    assert (await r.json())["error"]["code"] == code


async def test_without_a_converter_the_api_answers_docx_unsupported(client, deps) -> None:
    deps.converter = None
    p = await parties(deps)
    h = await _headers(deps, p.admin_id)
    r = await client.post(f"/api/v1/enterprises/{p.enterprise_id}/templates",
                          data=_upload(make_docx(), "合同.docx", name="x", business_type="其他"),
                          headers=h)
    assert r.status == 415
    err = (await r.json())["error"]
    assert err["code"] == "docx_unsupported" and "PDF" in err["message"]


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


@needs_soffice
async def test_the_console_offers_docx_where_it_can_be_converted(client, deps) -> None:
    p = await parties(deps)
    client.session.cookie_jar.update_cookies(
        {"ls_session": await session_token(deps, p.admin_id)})
    assert deps.converter is not None
    html = await (await client.get(f"/console/e/{p.enterprise_id}/templates")).text()
    assert ".docx" in html and "PDF 或 Word .docx" in html


async def test_the_console_offers_pdf_only_without_a_converter(client, deps) -> None:
    p = await parties(deps)
    client.session.cookie_jar.update_cookies(
        {"ls_session": await session_token(deps, p.admin_id)})
    base = f"/console/e/{p.enterprise_id}/templates"
    deps.converter = None
    html = await (await client.get(base)).text()
    assert 'accept="application/pdf,.pdf"' in html and "仅支持 PDF" in html
    form = aiohttp.FormData()
    form.add_field("_csrf", _csrf(html))
    form.add_field("name", "Word 模板")
    form.add_field("business_type", "其他")
    form.add_field("file", make_docx(), filename="合同.docx",
                   content_type="application/octet-stream")
    resp = await client.post(base, data=form)
    assert resp.status == 415
    assert "本服务器暂不支持 Word 文件" in await resp.text()


@needs_soffice
async def test_the_console_turns_a_docx_into_a_template(client, deps) -> None:
    p = await parties(deps)
    client.session.cookie_jar.update_cookies(
        {"ls_session": await session_token(deps, p.admin_id)})
    base = f"/console/e/{p.enterprise_id}/templates"
    html = await (await client.get(base)).text()
    form = aiohttp.FormData()
    form.add_field("_csrf", _csrf(html))
    form.add_field("name", "Word 劳动合同")
    form.add_field("business_type", "劳动合同")
    form.add_field("file", make_docx(pages=2), filename="劳动合同.docx",
                   content_type="application/vnd.openxmlformats-officedocument."
                                "wordprocessingml.document")
    resp = await client.post(base, data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    editor = await (await client.get(resp.headers["Location"])).text()
    assert editor.count("/pages/") >= 2 and "Word 劳动合同" in editor


@needs_soffice
async def test_the_console_replaces_a_templates_document_with_a_docx(client, deps) -> None:
    from core.templates import service
    from tests.contract_support import META

    p = await parties(deps)
    tid = await service.import_model(deps, p.admin_id, p.enterprise_id, meta=META)
    before = await service.get_template(deps, p.admin_id, p.enterprise_id, tid)
    pages = 1 + max(pl.page for f in before.fields for pl in f.placements)
    client.session.cookie_jar.update_cookies(
        {"ls_session": await session_token(deps, p.admin_id)})
    editor = f"/console/e/{p.enterprise_id}/templates/{tid}"
    html = await (await client.get(editor)).text()
    assert "新的合同文件（PDF 或 Word .docx）" in html
    form = aiohttp.FormData()
    form.add_field("_csrf", _csrf(html))
    form.add_field("file", make_docx(pages=pages), filename="新版合同.docx",
                   content_type="application/octet-stream")
    resp = await client.post(f"{editor}/file", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    after = await service.get_template(deps, p.admin_id, p.enterprise_id, tid)
    # (aiohttp's client percent-encodes the name it sends; a browser sends it as is)
    assert after.filename.endswith(".pdf") and "docx" not in after.filename
    assert after.page_count == pages
    assert after.sha256 != before.sha256 and len(after.fields) == len(before.fields)
