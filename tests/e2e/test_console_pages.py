"""An HR admin's first ten minutes, on a phone (390×844) and on a PC (1366×768): from the
home page to the console by tapping, through every console page by its navigation, the
enterprise's contracts, 发起合同 up to placing the boxes, and adding an employee (a bad
phone first). Screenshots of each page land in test-output/<test name>/.

On the PC the navigation is a side bar, lists are tables with headers and the pages of a
contract sit beside the signers form; on the phone nothing is wider than the screen.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.contracts import send
from core.contracts.send import Box, SignerSpec
from core.enterprise import employees as E
from core.enterprise import seals as enterprise_seals
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from storage.models import Member, Seal
from tests.e2e.conftest import PHONE
from tests.e2e.test_console import ENTERPRISE, NAV, ends_with, sign_in
from tests.enterprise_factories import META, certified_enterprise, id_number
from tests.factories import make_user

ADMIN_PHONE = "13712360001"
PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}


@pytest.fixture
def fast_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABORSIGN_SMS_PER_PHONE_INTERVAL_SECONDS", "1")


async def _enterprise(deps) -> str:
    """A certified enterprise whose main admin holds the contract seal, with a few
    employees and contracts: one to seal, one due tomorrow, one draft."""
    admin = await make_user(deps, phone=ADMIN_PHONE, verified=True, real_name="王五",
                            id_number=id_number("401"))
    ent, _ = await certified_enterprise(deps, owner_id=admin.id, name=ENTERPRISE)
    async with deps.db.sessions() as session:
        seal_id = (await session.execute(select(Seal.id).where(
            Seal.enterprise_id == ent, Seal.kind == "contract"))).scalar_one()
        member_id = (await session.execute(select(Member.id).where(
            Member.enterprise_id == ent, Member.user_id == admin.id))).scalar_one()
    await enterprise_seals.grant_seal(deps, admin.id, ent, seal_id, member_id, META)
    for name, phone in (("陈一", "13800002001"), ("林二", "13800002002")):
        await E.onboard_employee(deps, admin.id, ent, {"name": name, "phone": phone}, META)
    pdf = sample_contract_pdf(3)
    # a second apart, so the list's newest-first order is the order they are made in
    person = SignerSpec("person", (Box(2, EMPLOYEE_BOX),), name="陈一", phone="13800002001")
    await send.create_and_send(
        deps, admin.id, ent, title="劳动合同（陈一）", filename="a.pdf", pdf=pdf, meta=META,
        signers=[SignerSpec("enterprise", (Box(2, ENTERPRISE_BOX),), seal_id=seal_id),
                 SignerSpec(person.party, person.boxes, person.name, person.phone, order=2)])
    deps.clock.advance(seconds=1)
    await send.create_and_send(
        deps, admin.id, ent, title="实习协议（林二）", filename="b.pdf", pdf=pdf, meta=META,
        signers=[SignerSpec("person", (Box(2, EMPLOYEE_BOX),), name="林二",
                            phone="13800002002"),
                 SignerSpec("enterprise", (Box(2, ENTERPRISE_BOX),), seal_id=seal_id,
                            order=2)],
        deadline=deps.clock.now() + timedelta(days=1))
    deps.clock.advance(seconds=1)
    await send.create_draft(deps, admin.id, ent, title="劳务合同（草稿）", filename="c.pdf",
                            pdf=pdf, meta=META)
    return ent


async def _no_overflow(page) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


async def _tour(page, url: str, ent: str, shot, prefix: str, wide: bool) -> None:
    # -- from the home page to the console, by tapping ----------------------------------
    await page.click("#home-enterprise >> text=进入企业控制台")
    await page.wait_for_url(f"{url}/console/e/{ent}")
    nav = page.locator("nav.console-nav")
    assert await nav.locator("a").all_inner_texts() == NAV
    todo = page.locator("#todo")
    assert "待盖章：《劳动合同（陈一）》" in await todo.inner_text()
    assert "即将截止：《实习协议（林二）》" in await todo.inner_text()
    await shot(page, f"{prefix}-dashboard")
    main = page.locator(".console-main")
    nav_box, main_box = await nav.bounding_box(), await main.bounding_box()
    assert nav_box is not None and main_box is not None
    if wide:  # a side bar beside the content
        assert nav_box["x"] + nav_box["width"] <= main_box["x"]
        assert nav_box["width"] < 220 and main_box["width"] > 900
    else:  # above the content
        assert nav_box["y"] + nav_box["height"] <= main_box["y"]
        await _no_overflow(page)

    # -- every page of the navigation --------------------------------------------------
    # The 合同 area's own pages are tabs above each of them.
    area = page.locator("nav.console-area")
    for label, path, tabs in (("合同", "contracts", nav), ("纸质合同归档", "archive", area),
                              ("纸质副本", "paper-copies", area), ("证据包下载", "exports", area),
                              ("合同台账", "contracts", area), ("员工", "employees", nav),
                              ("部门", "departments", nav), ("成员", "members", nav),
                              ("加入审核", "joins", nav), ("印章", "seals", nav),
                              ("管理员", "admin", nav), ("日志", "audit", nav),
                              ("设置", "settings", nav)):
        await tabs.locator(f'text="{label}"').click()
        await page.wait_for_url(re.compile(rf".*/console/e/{ent}/{path}(\?.*)?$"))
        if path == "seals":  # drawn by a background job after certification
            for _ in range(30):
                if await page.locator("img.seal-thumb").count() == 3:
                    break
                await page.wait_for_timeout(500)
                await page.reload()
        table = page.locator("table.table-list")
        if await table.count():
            assert await table.first.locator("thead").is_visible() == wide, path
        if not wide:
            await _no_overflow(page)
        if tabs is area:  # the 合同 entry stays current in the navigation
            assert await nav.locator("a.active").inner_text() == "合同"
            assert await area.locator("a.active").inner_text() == label
        await shot(page, f"{prefix}-{path}")
        if path == "contracts":
            rows = await page.locator("#contract-table tbody tr").all_inner_texts()
            assert len(rows) == 3 and "劳务合同（草稿）" in rows[0], rows

    # -- the roles page and a seal, by their links --------------------------------------
    await nav.locator('text="成员"').click()
    await page.click("text=角色与业务类型")
    await page.wait_for_url(f"**/console/e/{ent}/roles")
    await shot(page, f"{prefix}-roles")
    await nav.locator('text="印章"').click()
    await page.locator("#seal-table tbody tr", has_text="合同章").locator("text=管理").click()
    await page.wait_for_url(re.compile(rf".*/console/e/{ent}/seals/[0-9a-f]{{32}}$"))
    await shot(page, f"{prefix}-seal")

    # -- 发起合同: upload, then the box-placing page -----------------------------------------
    await nav.locator('text="发起合同"').click()
    await page.wait_for_url(ends_with(f"/console/contracts/new?ent={ent}"))
    await page.fill("input[name=title]", f"劳动合同（{prefix}）")
    await page.set_input_files("input[name=file]", files=[{
        "name": "劳动合同.pdf", "mimeType": "application/pdf",
        "buffer": sample_contract_pdf(3)}])
    await shot(page, f"{prefix}-new-contract")
    await page.click("button[type=submit].btn-block")
    await page.wait_for_url("**/console/contracts/*/edit")
    await page.wait_for_selector("figure[data-page='1'] img")
    form_box = await page.locator("#send-form").bounding_box()
    pages_box = await page.locator("#placer").bounding_box()
    assert form_box is not None and pages_box is not None
    if wide:  # side by side: the pages on the left, the form on the right
        assert pages_box["x"] + pages_box["width"] <= form_box["x"]
        assert pages_box["width"] > 600
    else:
        await _no_overflow(page)
    # Drag the employee's box on page 3; the form beside (or above) the pages gets it.
    await page.fill("input[name=name_1]", "陈一")
    await page.check("input[name=active_row][value='1']")
    frame = page.locator("figure[data-page='3'] .doc-frame")
    await frame.scroll_into_view_if_needed()
    await page.locator("figure[data-page='3'] img").wait_for()
    fbox = await frame.bounding_box()
    assert fbox is not None
    await page.mouse.move(fbox["x"] + fbox["width"] * 0.56, fbox["y"] + fbox["height"] * 0.70)
    await page.mouse.down()
    await page.mouse.move(fbox["x"] + fbox["width"] * 0.84, fbox["y"] + fbox["height"] * 0.80,
                          steps=5)
    await page.mouse.up()
    assert (await page.input_value("#boxes_1")).startswith("3,")
    await page.locator(".doc-box-new").first.wait_for()
    if wide:  # what the screen shows: the form stays in view beside the page
        assert await page.locator("#send-form").is_visible()
        await page.screenshot(path=str(shot.folder / f"{prefix}-place-boxes-viewport.png"))
    await shot(page, f"{prefix}-place-boxes")

    # -- adding an employee: a bad phone keeps the form; success lands on 采集中 ------------
    await nav.locator('text="员工"').click()
    await page.fill("#e-name", f"周{prefix}")
    await page.fill("#e-phone", "1380013")
    await page.fill("#e-pos", "仓库管理员")
    await page.click("#add-employee button[type=submit]")
    await page.locator(".alert-error").wait_for()
    assert await page.input_value("#e-name") == f"周{prefix}"
    assert await page.input_value("#e-pos") == "仓库管理员"
    await shot(page, f"{prefix}-employee-bad-phone")
    await page.fill("#e-phone", "13800002003" if wide else "13800002004")
    await page.click("#add-employee button[type=submit]")
    await page.wait_for_url(re.compile(r".*/employees\?tab=collecting&new=.*"))
    new_row = page.locator("#employee-table tr.row-new")
    assert f"周{prefix}" in await new_row.inner_text()
    assert "采集中" in await page.inner_text("nav.console-subnav a.active")
    await shot(page, f"{prefix}-employee-added")


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_hr_admin_taps_through_the_console(
    fast_codes, deps, live_server, browser, shot, device
) -> None:
    url = live_server.url
    ent = await _enterprise(deps)
    context, page = await sign_in(browser, live_server, ADMIN_PHONE,
                                  PHONE if device == "phone" else PC, "/console")
    await page.click("a[aria-label=首页]")  # ‹ back to the home page
    await page.wait_for_url(f"{url}/")
    assert await page.locator("#home-links a[href='/me/signatures']").count() == 1
    await shot(page, f"{device}-home")
    await _tour(page, url, ent, shot, device, wide=device == "pc")
    await context.close()
