"""A Word (.docx) template in a real browser against a real server, on a phone (390×844) and
a PC (1366×768): HR picks a .docx in the console's 新建模板 form, the server converts it
with LibreOffice, and the editor shows its pages, ready for placing fields."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.docx_support import make_docx
from tests.e2e.conftest import PHONE
from tests.enterprise_factories import certified_enterprise, id_number
from tests.factories import login_as, make_user

PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}
DEVICES = {"phone": PHONE, "pc": PC}

pytestmark = pytest.mark.skipif(shutil.which("soffice") is None,
                                reason="LibreOffice (scripts/setup.sh) not installed")


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_hr_uploads_a_docx_and_sees_its_pages_in_the_editor(
        deps, live_server, browser, shot, device: str) -> None:
    n = "1" if device == "phone" else "2"
    admin = await make_user(deps, phone=f"1371235100{n}", verified=True, real_name="王五",
                            id_number=id_number(f"42{n}"))
    ent, _ = await certified_enterprise(deps, owner_id=admin.id, name="杭州示例劳务科技有限公司")
    token = (await login_as(deps, admin)).session.token
    url = live_server.url
    context = await browser.new_context(**DEVICES[device])
    await context.add_cookies([{"name": "ls_session", "value": token, "url": url}])
    hr = await context.new_page()

    await hr.goto(f"{url}/console/e/{ent}/templates")
    assert "PDF 或 Word .docx" in await hr.inner_text("#template-create")
    await hr.fill("#t-name", "劳动合同（Word 版）")
    await hr.select_option("#t-type", "劳动合同")
    await hr.set_input_files("#t-file", files=[{
        "name": "劳动合同.docx",
        "mimeType": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "buffer": make_docx("劳动合同", ["甲方（用人单位）：杭州示例劳务科技有限公司",
                                         "乙方（劳动者）：", "一、劳动合同期限"], pages=3)}])
    await shot(hr, f"{device}-docx-chosen")
    await hr.click("#template-create button[type=submit]")
    await hr.wait_for_url(re.compile(r".*/templates/[0-9a-f]{32}\?ok=saved$"), timeout=90_000)
    for page_no in (1, 2, 3):
        img = hr.locator(f"figure[data-page='{page_no}'] img")
        await img.scroll_into_view_if_needed()
        await hr.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=await img.element_handle())
    assert await hr.locator("figure[data-page='4']").count() == 0
    await hr.evaluate("window.scrollTo(0, 0)")
    await shot(hr, f"{device}-docx-editor")
    await context.close()
