"""The templates console pages through the real app: bad input becomes a Chinese message on
the page (never a 500), other enterprises' templates are not found, the fill page."""

from __future__ import annotations

import re

import aiohttp

from core.templates import service
from tests.contract_support import META, parties
from tests.enterprise_factories import session_token


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def _login(client, deps, user_id: str) -> None:
    client.session.cookie_jar.update_cookies({"ls_session": await session_token(deps, user_id)})


async def test_a_non_pdf_upload_is_refused_on_the_page(client, deps) -> None:
    p = await parties(deps)
    await _login(client, deps, p.admin_id)
    base = f"/console/e/{p.enterprise_id}/templates"
    html = await (await client.get(base)).text()
    assert "新建模板" in html and "导入人社部劳动合同示范文本" in html
    form = aiohttp.FormData()
    form.add_field("_csrf", _csrf(html))
    form.add_field("name", "坏文件")
    form.add_field("business_type", "劳动合同")
    form.add_field("file", b"not a pdf at all" * 10, filename="x.pdf",
                   content_type="application/pdf")
    resp = await client.post(base, data=form)
    assert resp.status == 400
    assert "PDF" in await resp.text()


async def test_garbage_fields_are_a_chinese_400_and_nothing_changes(client, deps) -> None:
    p = await parties(deps)
    await _login(client, deps, p.admin_id)
    tid = await service.import_model(deps, p.admin_id, p.enterprise_id, meta=META)
    page = f"/console/e/{p.enterprise_id}/templates/{tid}"
    html = await (await client.get(page)).text()
    assert 'id="palette"' in html and "template-editor.js" in html
    for bad in ("{not json", "[1, 2]", '[{"key": "a", "kind": "text", "placements": '
                '[{"page": 0, "x": 2, "y": 0, "w": 0.1, "h": 0.1}]}]', "[" * 200):
        resp = await client.post(f"{page}/save", data={
            "_csrf": _csrf(html), "name": "x", "business_type": "劳动合同",
            "fields_json": bad, "roles_json": ""})
        assert resp.status == 400, bad
    view = await service.get_template(deps, p.admin_id, p.enterprise_id, tid)
    assert view.name == "劳动合同（示范文本）" and len(view.fields) == 12


async def test_other_enterprises_templates_are_not_found(client, deps) -> None:
    p, other = await parties(deps), await parties(deps)
    tid = await service.import_model(deps, p.admin_id, p.enterprise_id, meta=META)
    await _login(client, deps, other.admin_id)
    for path in (f"/console/e/{other.enterprise_id}/templates/{tid}",
                 f"/console/e/{other.enterprise_id}/templates/{tid}/pages/0.png",
                 f"/console/e/{p.enterprise_id}/templates/{tid}"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 404, path


async def test_the_model_template_publishes_and_its_page_images_render(client, deps) -> None:
    p = await parties(deps)
    await _login(client, deps, p.admin_id)
    tid = await service.import_model(deps, p.admin_id, p.enterprise_id, meta=META)
    page = f"/console/e/{p.enterprise_id}/templates/{tid}"
    html = await (await client.get(page)).text()
    resp = await client.post(f"{page}/publish", data={"_csrf": _csrf(html)},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].endswith("?ok=published")
    img = await client.get(f"{page}/pages/3.png")
    assert img.status == 200 and (await img.read()).startswith(b"\x89PNG")
    send = await (await client.get(f"{page}/send?q=")).text()
    assert "选择签署人" in send and "发起签署" in send
