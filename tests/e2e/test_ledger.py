"""Where HR finds it all, on a phone (390×844) and on a PC (1366×768): the contract ledger
searched, filtered, paged and exported, 发起合同 from it, and an employee's 抄送我的 list.
Screenshots land in test-output/<test name>/."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from core.contracts import send
from core.contracts.send import Box, CcSpec, Options, SignerSpec
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from storage.models import Seal
from tests.e2e.conftest import PHONE
from tests.e2e.test_console import ENTERPRISE, sign_in
from tests.enterprise_factories import META, certified_enterprise, id_number
from tests.factories import make_user
from tests.ledger_support import Row, department, employee_in, insert_contracts

ADMIN_PHONE = "13712370001"
WATCHER_PHONE = "13712370002"
PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}


@pytest.fixture
def live_server_env(config) -> dict[str, str]:
    """The server reads the files of the contract this test sends (its page images)."""
    return {"LABORSIGN_STORAGE_FILE_DIR": config.storage.file_dir}


@pytest.fixture
def fast_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABORSIGN_SMS_PER_PHONE_INTERVAL_SECONDS", "1")


async def _enterprise(deps) -> tuple[str, str]:
    """45 contracts in the ledger (a few 劳务派遣合同, some of the 销售部's employees) and a
    real one copied (抄送) to 郑十一."""
    admin = await make_user(deps, phone=ADMIN_PHONE, verified=True, real_name="王五",
                            id_number=id_number("402"))
    await make_user(deps, phone=WATCHER_PHONE, verified=True, real_name="郑十一",
                    id_number=id_number("403"))
    ent, _ = await certified_enterprise(deps, owner_id=admin.id, name=ENTERPRISE)
    sales = await department(deps, ent, "销售部")
    now = deps.clock.now()
    rows = []
    for i in range(44):
        phone = await employee_in(deps, ent, sales if i % 4 == 0 else None, f"员工{i:03d}")
        rows.append(Row(f"劳动合同（员工{i:03d}）", f"员工{i:03d}", phone,
                        business_type="劳务派遣合同" if i % 10 == 3 else "劳动合同",
                        state="completed" if i % 3 == 0 else "in_progress",
                        sent_at=now - timedelta(hours=100 - i),
                        deadline=now + timedelta(days=i + 1)))
    await insert_contracts(deps, ent, admin.id, rows)
    async with deps.db.sessions() as session:
        seal_id = (await session.execute(select(Seal.id).where(
            Seal.enterprise_id == ent, Seal.kind == "contract"))).scalar_one()
    await send.create_and_send(
        deps, admin.id, ent, title="保密协议（陈一）", filename="nda.pdf",
        pdf=sample_contract_pdf(3), meta=META,
        signers=[SignerSpec("person", (Box(2, EMPLOYEE_BOX),), name="陈一",
                            phone="13800003001"),
                 SignerSpec("enterprise", (Box(2, ENTERPRISE_BOX),), seal_id=seal_id,
                            order=2)],
        options=Options(confidential=True, cc=(CcSpec(phone=WATCHER_PHONE),)))
    return ent, sales


async def _no_overflow(page) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_hr_searches_filters_pages_and_exports_the_ledger(
    fast_codes, deps, live_server, browser, shot, device
) -> None:
    ent, _ = await _enterprise(deps)
    wide = device == "pc"
    base = f"/console/e/{ent}/contracts"
    context, page = await sign_in(browser, live_server, ADMIN_PHONE,
                                  PC if wide else PHONE, base)
    summary = page.locator("#ledger-summary")
    assert "共 45 份" in await summary.inner_text()
    assert "第 1 / 3 页" in await summary.inner_text()
    assert await page.locator("#contract-table tbody tr").count() == 20
    first = await page.locator("#contract-table tbody tr").first.inner_text()
    assert "保密协议（陈一）" in first and "保密" in first and "HT" in first
    assert await page.locator("#contract-table thead").is_visible() == wide
    assert await page.locator("#ledger-new").is_visible()
    if not wide:
        await _no_overflow(page)
    await shot(page, f"{device}-ledger")

    # -- search by a signer's name ----------------------------------------------------
    await page.fill("input[name=q]", "员工007")
    await page.click("#ledger-search")
    await page.wait_for_url(re.compile(r".*q=%E5%91%98%E5%B7%A5007.*"))
    rows = await page.locator("#contract-table tbody tr").all_inner_texts()
    assert len(rows) == 1 and "劳动合同（员工007）" in rows[0]
    await shot(page, f"{device}-search")

    # -- filters: business type and state, folded under 更多筛选 on the phone ----------------
    await page.fill("input[name=q]", "")
    await page.click("summary:has-text('更多筛选')")
    await page.select_option("#f-type", label="劳务派遣合同")
    await page.select_option("#f-state", value="in_progress")
    await page.select_option("#f-sort", value="deadline")
    await page.select_option("#f-order", value="asc")
    if not wide:
        await _no_overflow(page)
    await shot(page, f"{device}-filters-open")
    await page.click("#ledger-apply")
    await page.wait_for_url(re.compile(r".*type=[0-9a-f]{32}.*"))
    rows = await page.locator("#contract-table tbody tr").all_inner_texts()
    # i % 10 == 3 → 3, 13, 23, 33, 43; in progress unless i % 3 == 0 → 13, 23, 43
    titles = [re.search(r"员工\d{3}", r).group(0) for r in rows]
    assert titles == ["员工013", "员工023", "员工043"], rows
    assert "共 3 份" in await summary.inner_text()
    await shot(page, f"{device}-filtered")

    # -- the filtered list, exported ------------------------------------------------------
    async with page.expect_download() as info:
        await page.click("#ledger-export")
    download = await info.value
    assert download.suggested_filename.endswith(".xlsx")
    data = Path(await download.path()).read_bytes()  # noqa: ASYNC240 - a small local file
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    exported = list(sheet.iter_rows(values_only=True))
    assert [r[5] for r in exported[1:]] == ["员工013", "员工023", "员工043"]

    # -- pages: 下一页 from the full list ----------------------------------------------------
    await page.goto(live_server.url + base)
    await page.click("#ledger-next")
    await page.wait_for_url(re.compile(r".*page=2.*"))
    assert "第 2 / 3 页" in await summary.inner_text()
    await page.click("#ledger-next")
    await page.wait_for_url(re.compile(r".*page=3.*"))
    assert await page.locator("#contract-table tbody tr").count() == 5
    await page.locator("#ledger-pager, nav.pager").scroll_into_view_if_needed()
    await shot(page, f"{device}-page-3")

    # -- 发起合同 from the ledger ----------------------------------------------------------
    await page.click("#ledger-new")
    await page.wait_for_url(re.compile(rf".*/console/contracts/new\?ent={ent}$"))
    assert await page.locator("#business-type option:checked").inner_text() == "劳动合同"
    await shot(page, f"{device}-new-from-ledger")
    await context.close()


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_the_copied_person_finds_it_under_cc_me(
    fast_codes, deps, live_server, browser, shot, device
) -> None:
    await _enterprise(deps)
    context, page = await sign_in(browser, live_server, WATCHER_PHONE,
                                  PC if device == "pc" else PHONE, "/contracts?tab=cc")
    assert "抄送我的" in await page.inner_text("nav.tabs a.active")
    items = await page.locator(".contract-list li").all_inner_texts()
    assert len(items) == 1 and "保密协议（陈一）" in items[0]
    if device == "phone":
        await _no_overflow(page)
    await shot(page, f"{device}-cc-me")
    await page.fill("#list-filters input[name=q]", "劳动")
    await page.click("#list-search")
    await page.wait_for_url(re.compile(r".*q=.*"))
    assert "没有符合条件的合同" in await page.inner_text("main")
    await page.fill("#list-filters input[name=q]", "保密")
    await page.select_option("#list-filters select[name=state]", value="in_progress")
    await page.click("#list-search")
    await page.wait_for_url(re.compile(r".*state=in_progress.*"))
    await page.click(".contract-list a")
    await page.wait_for_url(re.compile(r".*/contracts/[0-9a-f]{32}$"))
    assert await page.locator("#cc-me").is_visible()
    assert await page.locator("#go-sign").count() == 0
    first_page = page.locator("figure[data-page='1'] img")
    await first_page.scroll_into_view_if_needed()
    await page.wait_for_function(
        "document.querySelector(\"figure[data-page='1'] img\").naturalWidth > 0")
    await shot(page, f"{device}-cc-contract")
    await context.close()
