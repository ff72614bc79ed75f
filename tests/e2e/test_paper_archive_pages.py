"""Paper archive in a real browser against a real server, on a phone (390×844) and a PC
(1366×768): from the console home HR taps 合同 → 纸质合同归档, archives one scanned PDF,
then uploads a batch (a zip of three PDFs and the Excel sheet with one bad row), sees the
bad cell, archives the two valid rows and finds all three in the ledger as 已归档（纸质）.
The employee whose phone was on the single archive finds it in their own list."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.clock import LOCAL_ZONE
from core.context import RequestMeta
from core.signing.samples import sample_contract_pdf
from tests.archive_support import pdfs, row, sheet, zip_of
from tests.e2e.conftest import PHONE
from tests.enterprise_factories import certified_enterprise, id_number
from tests.factories import login_as, make_user

META = RequestMeta(ip="127.0.0.1", user_agent="e2e-setup")
PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}
DEVICES = {"phone": PHONE, "pc": PC}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _context_as(browser, url: str, token: str, device: dict):
    context = await browser.new_context(**device)
    await context.add_cookies([{"name": "ls_session", "value": token, "url": url}])
    return context, await context.new_page()


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_archive_one_pdf_and_a_batch_with_a_bad_row(
    deps, live_server, browser, shot, device: str
) -> None:
    url = live_server.url
    n = "1" if device == "phone" else "2"
    admin = await make_user(deps, phone=f"1371236100{n}", verified=True, real_name="王五",
                            id_number=id_number(f"60{n}"))
    emp_phone = f"1371236200{n}"
    emp = await make_user(deps, phone=emp_phone, verified=True, real_name="张三",
                          id_number=id_number(f"61{n}"))
    ent, _ = await certified_enterprise(deps, owner_id=admin.id, name="杭州示例劳务科技有限公司")
    today = datetime.now(LOCAL_ZONE).date()
    day = lambda d: (today - timedelta(days=d)).isoformat()  # noqa: E731

    ctx, hr = await _context_as(browser, url, (await login_as(deps, admin)).session.token,
                                DEVICES[device])
    await hr.goto(f"{url}/console")
    await hr.click(f"a[href='/console/e/{ent}']")
    await hr.locator("nav.console-nav").locator('text="合同"').click()
    await hr.wait_for_selector("#ledger")
    await hr.click("#ledger-archive")
    await hr.wait_for_selector("#archive-single")
    await shot(hr, f"{device}-archive-form")

    # -- one scanned PDF -----------------------------------------------------------------
    await hr.set_input_files("#a-file", files=[{
        "name": "张三-劳动合同.pdf", "mimeType": "application/pdf",
        "buffer": sample_contract_pdf(2)}])
    await hr.fill("#a-title", "劳动合同（2023 纸质）")
    await hr.select_option("#a-type", label="劳动合同")
    await hr.fill("#a-name", "张三")
    await hr.fill("#a-phone", emp_phone)
    await hr.fill("#a-signed", day(400))
    await hr.fill("#a-start", day(399))
    await hr.fill("#a-end", day(-700))
    await hr.fill("#a-remarks", "原件存于人事档案柜 A-3")
    await shot(hr, f"{device}-archive-form-filled")
    await hr.click("#archive-submit")
    await hr.wait_for_selector("#archive-detail")
    detail = await hr.inner_text("#archive-detail")
    assert "已归档（纸质）" in detail and "原件存于人事档案柜 A-3" in detail
    assert (await hr.inner_text("#d-number")).startswith("GD")
    await shot(hr, f"{device}-archived-one")

    # -- a batch: three PDFs, row 3 has a bad phone ----------------------------------------
    await hr.click("a:has-text('合同台账')")
    await hr.click("#ledger-archive")
    await hr.click("#tab-batch")
    await hr.wait_for_selector("#archive-batch")
    files = pdfs("李四.pdf", "王二.pdf", "赵六.pdf")
    rows = [row("李四.pdf", "李四", "13800138001", signed=day(300), number=f"ZB-{n}-1"),
            row("王二.pdf", "王二", "1380013800", signed=day(200)),
            row("赵六.pdf", "赵六", "13800138003", signed=day(100), start=day(100),
                end=day(-265))]
    await hr.set_input_files("#b-zip", files=[{
        "name": "纸质合同扫描件.zip", "mimeType": "application/zip", "buffer": zip_of(files)}])
    await hr.set_input_files("#b-file", files=[{
        "name": "归档信息.xlsx", "mimeType": XLSX, "buffer": sheet(rows)}])
    await shot(hr, f"{device}-batch-form")
    await hr.click("#archive-batch-upload")
    await hr.wait_for_selector("#archive-preview")
    assert "2 行可归档，1 行有误" in await hr.inner_text("#archive-preview")
    assert "（纸质合同扫描件.zip）" in await hr.inner_text("p.tpl-crumb")
    bad = hr.locator("tr.row-error")
    assert await bad.count() == 1
    assert (await bad.get_attribute("data-row"), await bad.get_attribute("data-column")) == (
        "3", "手机号")
    assert "手机号" in await bad.inner_text()
    await shot(hr, f"{device}-batch-bad-row")
    await hr.click("#archive-confirm")
    await hr.wait_for_selector("#archive-done")
    assert "已归档 2 份合同" in await hr.inner_text("#archive-done")
    await shot(hr, f"{device}-batch-archived")

    await hr.click("#archive-to-ledger")
    await hr.wait_for_selector("#contract-table")
    table = await hr.inner_text("#contract-table")
    assert table.count("已归档（纸质）") == 3
    for title in ("劳动合同（2023 纸质）", "劳动合同（纸质）"):
        assert title in table
    assert "王二" not in table
    assert "已归档（纸质）" in await hr.inner_text("nav.console-subnav a.active")
    await shot(hr, f"{device}-ledger-archived")
    await ctx.close()

    # -- the employee sees the paper contract in their own list ----------------------------
    ctx, page = await _context_as(browser, url, (await login_as(deps, emp)).session.token,
                                  DEVICES[device])
    await page.goto(f"{url}/contracts?tab=completed")
    body = await page.inner_text("body")
    assert "劳动合同（2023 纸质）" in body and "已归档（纸质）" in body
    await shot(page, f"{device}-employee-list")
    await page.click("a.contract-link")
    await page.wait_for_selector("#paper-note")
    assert await page.locator("#go-sign").count() == 0
    assert "已归档（纸质）" in await page.inner_text("#contract-state")
    first = page.locator("img[alt='第 1 页']")
    await first.scroll_into_view_if_needed()
    await page.wait_for_function(
        "() => { const i = document.querySelector(\"img[alt='第 1 页']\");"
        " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)
    await shot(page, f"{device}-employee-paper-contract")
    await ctx.close()
