"""The HR console in a real browser against a real server (issue 4, PRODUCT B1–B5):

a verified person certifies an enterprise by corporate micro-deposit (one wrong amount
first) and becomes its main admin with the three seals → a colleague finds the enterprise,
applies to join, the admin approves with the HR role → the admin hands the main-admin role
over by SMS code → HR onboards employees by Excel import (the template from the page; a
file with a bad row imports nothing and shows the errors by row).

Steps 1–3 run on phones; certification and the import run again on a desktop (1280×860),
with the import's error table also checked on a phone. The people start as verified
users (the real-name check has its own e2e test); everything after that is clicked
through the pages: log in by SMS code, forms, buttons, the dev bank statement.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
import zipfile
from pathlib import Path

import aiohttp
import pytest
from openpyxl import load_workbook
from PIL import Image, ImageDraw

from tests.e2e.conftest import DESKTOP, PHONE
from tests.enterprise_factories import credit_code, hostile_xlsx, id_number, make_user

ENTERPRISE = "杭州示例劳务科技有限公司"
# The console navigation of a main admin, in order.
NAV = ["工作台", "合同", "发起合同", "模板", "员工", "部门", "成员", "加入审核", "印章", "管理员",
       "日志", "设置"]
CREDIT_CODE = credit_code("91330106MA2B3C4D5")
ADMIN_PHONE = "13712350001"
COLLEAGUE_PHONE = "13712350002"


@pytest.fixture
def fast_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A login code and an admin-change code to one phone within a minute."""
    monkeypatch.setenv("LABORSIGN_SMS_PER_PHONE_INTERVAL_SECONDS", "1")


def licence_png() -> bytes:
    """A small picture standing in for the business licence photo."""
    image = Image.new("RGB", (320, 220), "#fbf7ee")
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 311, 211), outline="#b8860b", width=6)
    draw.rectangle((40, 50, 280, 62), fill="#444")
    for y in range(90, 180, 22):
        draw.rectangle((40, y, 220, y + 8), fill="#999")
    draw.ellipse((228, 130, 290, 192), outline="#d00", width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def sign_in(browser, live_server, phone_number: str, device: dict, next_path: str):
    """A new browser for this person: open `next_path`, log in by SMS code, land back there."""
    context = await browser.new_context(**device)
    page = await context.new_page()
    await page.goto(live_server.url + next_path)
    await page.wait_for_url(re.compile(r".*/login\?next="))
    await page.click("text=验证码登录")
    await page.fill("#f-phone", phone_number)
    await page.click("[data-send-code]")
    await page.fill("#f-code", await live_server.sms_code(phone_number))
    await page.click("form button[type=submit].btn-block")
    await page.wait_for_url(live_server.url + next_path)
    return context, page


async def inbox(live_server, phone_number: str) -> list[dict]:
    async with aiohttp.ClientSession() as http, http.get(
        f"{live_server.url}/dev/api/sms", params={"phone": phone_number}
    ) as response:
        return (await response.json())["messages"]


async def new_code(live_server, phone_number: str, seen: set[str], wait: float = 15.0) -> str:
    """The code of an SMS to the phone that is not among the `seen` message ids (the
    outbox delivers after commit, so the newest code may still be an older one)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        fresh = [m["code"] for m in await inbox(live_server, phone_number)
                 if m["id"] not in seen and m["code"]]
        if fresh:
            return fresh[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no new SMS code for {phone_number}")


def ends_with(path_qs: str) -> re.Pattern[str]:
    """A URL matcher (Playwright globs treat "?" as a wildcard)."""
    return re.compile(re.escape(path_qs) + "$")


async def wait_for_seal_images(page, count: int, seconds: float = 15.0) -> None:
    """The seal images are drawn by a background job after certification: reload until
    every seal shows its picture."""
    deadline = time.monotonic() + seconds
    while await page.locator("img.seal-thumb").count() < count:
        assert time.monotonic() < deadline, "seal images were not drawn"
        await asyncio.sleep(0.5)
        await page.reload()
    assert "待生成图片" not in await page.inner_text("main")


async def body_text(page) -> str:
    return await page.inner_text("body")


async def certify_by_micro_deposit(page, live_server, shot, prefix: str,
                                   wrong_try: bool = True) -> str:
    """From /console: submit the enterprise, pay-and-confirm by micro-deposit. Returns its id."""
    url = live_server.url
    await page.click("text=认证新企业")
    await page.wait_for_url("**/console/certify/new")
    await page.fill("#f-name", ENTERPRISE)
    await page.fill("#f-code", CREDIT_CODE)
    await page.fill("#f-addr", "浙江省杭州市西湖区文三路 90 号")
    await page.fill("#f-rep", "李建国")
    await page.fill("#f-repid", id_number("456", "19750412"))
    await page.set_input_files("#f-lic", files=[{
        "name": "营业执照.png", "mimeType": "image/png", "buffer": licence_png()}])
    await page.select_option("#f-kind", "cloud")
    await shot(page, f"{prefix}-certify-form")
    await page.click("form[action='/console/certify/new'] button[type=submit]")
    await page.wait_for_url(re.compile(r".*/console/certify/[0-9a-f]{32}\?ok=submitted$"))
    ent_id = page.url.split("/")[-1].split("?")[0]
    text = await body_text(page)
    assert "认证中" in text and "对公打款认证" in text
    assert id_number("456", "19750412") not in text  # the legal rep's ID is shown masked
    await shot(page, f"{prefix}-choose-method")

    deposit = page.locator(f"form[action='/console/certify/{ent_id}/deposit']")
    await deposit.locator("input[name=account_name]").fill(ENTERPRISE)
    await deposit.locator("input[name=account_number]").fill("6222020200001234567")
    await deposit.locator("input[name=bank_name]").fill("中国工商银行杭州文三路支行")
    await deposit.locator("button[type=submit]").click()
    await page.wait_for_url(re.compile(r".*/console/attempt/[0-9a-f]{32}\?ok=paid$"))
    text = await body_text(page)
    assert "6222020200001234567" not in text and "4567" in text  # account number masked
    assert "还可尝试 3 次" in text
    await shot(page, f"{prefix}-deposit-sent")

    # The company's bank statement: the dev gateway's transfer record.
    bank = await page.context.new_page()
    await bank.goto(f"{url}/dev/payments")
    row = bank.locator("tr", has_text=ENTERPRISE)
    amount = (await row.locator("td.amount").inner_text()).strip()
    assert re.fullmatch(r"0\.\d\d", amount) and amount != "0.00", amount
    await shot(bank, f"{prefix}-bank-statement")
    await bank.close()

    if wrong_try:
        wrong = "0.99" if amount != "0.99" else "0.98"
        await page.fill("#f-amt", wrong)
        await page.click("form[action$='/deposit'] button[type=submit]")
        await page.locator(".alert-error", has_text="金额不正确，还可尝试 2 次").wait_for()
        assert "还可尝试 2 次" in await page.inner_text("main .card .muted >> nth=0")
        await shot(page, f"{prefix}-deposit-wrong-amount")

    await page.fill("#f-amt", amount)
    await page.click("form[action$='/deposit'] button[type=submit]")
    await page.locator(".badge-ok", has_text="已通过").wait_for()
    await shot(page, f"{prefix}-deposit-passed")
    await page.click("text=查看企业状态")
    await page.wait_for_url(f"**/console/certify/{ent_id}")
    await page.locator("h2 .badge-ok", has_text="已认证").wait_for()
    await shot(page, f"{prefix}-certified")
    return ent_id


async def test_certify_approve_join_and_transfer_admin_on_phones(
    fast_codes, deps, live_server, browser, shot
) -> None:
    url = live_server.url
    device = PHONE
    await make_user(deps, ADMIN_PHONE, name="王五")
    await make_user(deps, COLLEAGUE_PHONE, name="赵六")

    # -- 1. certification by micro-deposit ---------------------------------------------
    admin_ctx, admin = await sign_in(browser, live_server, ADMIN_PHONE, device, "/console")
    assert "还没有认证企业" in await body_text(admin)
    await shot(admin, "admin-console-empty")
    ent_id = await certify_by_micro_deposit(admin, live_server, shot, "admin")
    await admin.click("text=进入企业控制台")
    await admin.wait_for_url(f"{url}/console/e/{ent_id}")
    await shot(admin, "admin-dashboard")

    await admin.click("nav.console-nav >> text=印章")
    await admin.wait_for_url(f"**/console/e/{ent_id}/seals")
    seals = admin.locator("#seal-table tbody tr")
    kinds = [(await k.inner_text()).strip() for k in await seals.locator(".seal-kind").all()]
    assert sorted(kinds) == sorted(["公章", "合同章", "法人章"]), kinds
    assert all("已启用" in s for s in await seals.all_inner_texts())
    await wait_for_seal_images(admin, 3)
    await shot(admin, "admin-seals")

    await admin.click("nav.console-nav >> text=成员")
    me = admin.locator("#member-table tbody tr", has_text="王五")
    await me.locator(".badge-ok", has_text="主管理员").wait_for()
    await shot(admin, "admin-members")

    await admin.goto(f"{url}/console")
    mine = admin.locator("section.card", has_text="我认证的企业")
    await mine.locator("li", has_text=ENTERPRISE).locator(".badge-ok", has_text="已认证").wait_for()

    # -- 2. a colleague applies to join; the admin approves as HR --------------------------
    colleague_ctx, colleague = await sign_in(browser, live_server, COLLEAGUE_PHONE, device,
                                             "/console")
    assert "还没有加入企业" in await body_text(colleague)
    await colleague.click("text=申请加入企业 / 申请成为管理员")
    await colleague.wait_for_url("**/console/join")
    await colleague.fill("#q", "示例劳务")
    await colleague.click("form[action='/console/join'] button[type=submit]")
    hit = colleague.locator("section.card", has_text=ENTERPRISE)
    await hit.wait_for()
    assert CREDIT_CODE not in await hit.inner_text()  # the credit code is masked
    await hit.locator("input[name=reason]").fill("人力资源部 赵六，负责员工入职")
    await shot(colleague, "colleague-join-search")
    await hit.locator("text=申请加入").first.click()
    await colleague.wait_for_url(ends_with("/console?ok=joined"))
    pending = colleague.locator("section.card", has_text="我的加入申请")
    await pending.locator("li", has_text=ENTERPRISE).locator(".badge", has_text="待审核").wait_for()
    await shot(colleague, "colleague-join-pending")

    await admin.goto(f"{url}/console/e/{ent_id}")
    todo = admin.locator("ul.list > li", has_text="加入企业申请")
    assert (await todo.locator("a").inner_text()).strip() == "1"
    await shot(admin, "admin-dashboard-join-waiting")
    await todo.locator("a").click()
    await admin.wait_for_url(f"**/console/e/{ent_id}/joins")
    request_card = admin.locator("section.card", has_text="赵六")
    assert "负责员工入职" in await request_card.inner_text()
    await request_card.locator("label.check", has_text="HR").locator("input").check()
    await request_card.locator("label.check", has_text="员工").locator("input").uncheck()
    await request_card.locator("label.check", has_text="劳动合同").locator("input").check()
    await shot(admin, "admin-join-review")
    await request_card.locator("button[value=approve]").click()
    await admin.wait_for_url(ends_with(f"/console/e/{ent_id}/joins?ok=approved"))
    assert "暂无待审核的加入申请" in await body_text(admin)
    await shot(admin, "admin-join-approved")

    await colleague.goto(f"{url}/console")
    joined = colleague.locator("section.card", has_text="我加入的企业")
    await joined.locator("li", has_text=ENTERPRISE).wait_for()
    approved = pending.locator("li", has_text=ENTERPRISE).locator(".badge-ok", has_text="已通过")
    await approved.wait_for()
    await shot(colleague, "colleague-joined")
    await joined.locator("text=进入控制台").click()
    await colleague.wait_for_url(f"{url}/console/e/{ent_id}")
    await colleague.click("nav.console-nav >> text=成员")
    row = colleague.locator("#member-table tbody tr", has_text="赵六")
    assert "HR" in await row.inner_text()

    # -- 3. the main admin hands the role over ---------------------------------------------
    await admin.click("nav.console-nav >> text=管理员")
    await admin.wait_for_url(f"**/console/e/{ent_id}/admin")
    await shot(admin, "admin-transfer-start")
    seen = {m["id"] for m in await inbox(live_server, ADMIN_PHONE)}  # the login code
    await admin.click("button[value=code]")
    await admin.wait_for_url(ends_with(f"/console/e/{ent_id}/admin?ok=code_sent"))
    await admin.fill("#a-code", await new_code(live_server, ADMIN_PHONE, seen))
    new_admin_id = await admin.locator("#a-new option", has_text="赵六").get_attribute("value")
    await admin.select_option("#a-new", new_admin_id)
    await shot(admin, "admin-transfer-filled")
    await admin.click("button[value=transfer]")
    await admin.wait_for_url(ends_with(f"/console/e/{ent_id}?ok=transferred"))
    await admin.locator(".alert-ok", has_text="主管理员已更换").wait_for()
    await shot(admin, "old-admin-after-transfer")

    # The old admin is still a member, demoted to 员工: no admin pages any more, only the
    # contracts they started themselves and the admin page (to see who holds the role).
    nav = await admin.locator("nav.console-nav a").all_inner_texts()
    assert nav == ["工作台", "合同", "管理员"], nav
    await admin.click("nav.console-nav >> text=管理员")
    await admin.wait_for_url(f"**/console/e/{ent_id}/admin")
    assert "仅主管理员可以更换管理员" in await body_text(admin)
    assert await admin.locator("#a-code").count() == 0
    await shot(admin, "old-admin-admin-page")
    await admin.goto(f"{url}/console")
    await admin.locator("section.card", has_text="我加入的企业").locator(
        "li", has_text=ENTERPRISE).wait_for()

    # The new admin sees the main-admin pages.
    await colleague.goto(f"{url}/console/e/{ent_id}/members")
    new_admin = colleague.locator("#member-table tbody tr", has_text="赵六")
    await new_admin.locator(".badge-ok", has_text="主管理员").wait_for()
    old_admin = colleague.locator("#member-table tbody tr", has_text="王五")
    assert "主管理员" not in await old_admin.inner_text()
    assert "员工" in await old_admin.inner_text()
    await shot(colleague, "new-admin-members")
    nav = await colleague.locator("nav.console-nav a").all_inner_texts()
    assert nav == NAV, nav  # the main admin sees every page
    await colleague.click("nav.console-nav >> text=管理员")
    await colleague.locator("#a-code").wait_for()
    await shot(colleague, "new-admin-admin-page")
    await admin_ctx.close()
    await colleague_ctx.close()


def filled_sheet(template: bytes, rows: list[list[object]]) -> bytes:
    """The downloaded template with rows typed under its header, as HR would in Excel."""
    wb = load_workbook(io.BytesIO(template))
    ws = wb["员工信息"]
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def test_certify_and_onboard_employees_by_excel_import_on_a_desktop(
    fast_codes, deps, live_server, browser, shot, output_dir: Path
) -> None:
    url = live_server.url
    await make_user(deps, ADMIN_PHONE, name="王五")
    context, hr = await sign_in(browser, live_server, ADMIN_PHONE, DESKTOP, "/console")
    ent_id = await certify_by_micro_deposit(hr, live_server, shot, "hr", wrong_try=False)
    await hr.click("text=进入企业控制台")
    await hr.wait_for_url(f"{url}/console/e/{ent_id}")
    await shot(hr, "hr-dashboard")
    for section, label in (("seals", "印章"), ("members", "成员"), ("joins", "加入审核"),
                           ("admin", "管理员"), ("audit", "日志")):
        await hr.click(f"nav.console-nav >> text={label}")
        await hr.wait_for_url(f"**/console/e/{ent_id}/{section}")
        if section == "seals":
            await wait_for_seal_images(hr, 3)
        await shot(hr, f"hr-{section}")

    # A department to put people in (the import names departments by name).
    await hr.goto(f"{url}/console/e/{ent_id}/departments")
    await hr.fill("#d-name", "运营部")
    await hr.click("button[value=add]")
    await hr.wait_for_url(ends_with(f"/console/e/{ent_id}/departments?ok=saved"))

    await hr.click("nav.console-nav >> text=员工")
    await hr.click("text=Excel 批量导入")
    await hr.wait_for_url(f"**/console/e/{ent_id}/employees/import")
    await shot(hr, "hr-import-page")
    async with hr.expect_download() as download_info:
        await hr.click("text=下载导入模板")
    download = await download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    template_path = output_dir / "template.xlsx"
    await download.save_as(template_path)
    template = template_path.read_bytes()
    assert template.startswith(b"PK\x03\x04") and zipfile.is_zipfile(io.BytesIO(template))
    wb = load_workbook(io.BytesIO(template), read_only=True)
    header = next(wb["员工信息"].iter_rows(values_only=True))
    wb.close()
    assert header == ("姓名*", "手机号*", "身份证号", "部门", "岗位", "入职日期")

    good = [
        ["陈一", "13800001001", id_number("111", "19920101"), "运营部", "运营专员", "2026-12-01"],
        ["林二", "13800001002", id_number("112", "19930202"), "运营部", "客服主管", "2026-12-01"],
        ["黄三", "13800001003", id_number("113", "19940303"), None, "仓库管理员", "2026-12-15"],
    ]
    await hr.set_input_files("input[name=file]", files=[{
        "name": "员工导入.xlsx", "buffer": filled_sheet(template, good),
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    await hr.check("input[name=activate]")
    await shot(hr, "hr-import-chosen")
    await hr.click("form[enctype] button[type=submit]")
    await hr.wait_for_url(ends_with(f"/console/e/{ent_id}/employees?tab=active&ok=imported"))
    roster = hr.locator("#employee-table tbody tr")
    assert await roster.count() == 3
    names = "\n".join(await roster.all_inner_texts())
    for person in ("陈一", "林二", "黄三"):
        assert person in names
    first = await roster.filter(has_text="陈一").inner_text()
    assert "运营部" in first and "运营专员" in first and "在职" in first
    assert "共 3 人" in await body_text(hr)
    await shot(hr, "hr-roster-after-import")

    # A file with a bad row: errors listed by row, nothing imported.
    bad = [
        ["周四", "13800001004", id_number("114", "19950404"), "运营部", "运营专员", "2026-12-01"],
        ["吴五", "1380000", "110101199001011234", "市场部", "销售", "2026-12-01"],
        ["陈一", "13800001001", None, None, None, None],
    ]
    await hr.click("text=Excel 批量导入")
    await hr.set_input_files("input[name=file]", files=[{
        "name": "员工导入-有误.xlsx", "buffer": filled_sheet(template, bad),
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    await hr.click("form[enctype] button[type=submit]")
    table = hr.locator("table.table")
    await table.wait_for()
    assert "未导入" in await body_text(hr)
    errors = await table.locator("tbody tr").all_inner_texts()
    by_row = {r.split("\t")[0].strip(): r for r in errors}
    assert "2" not in by_row  # 周四's row is fine
    assert {"3", "4"} <= set(by_row), errors
    row3 = " ".join(r for r in errors if r.startswith("3"))
    assert "手机号" in row3 and "身份证号" in row3 and "部门" in row3
    assert "已存在" in by_row["4"]
    await shot(hr, "hr-import-errors")

    # The same error table on a phone.
    phone_ctx = await browser.new_context(**PHONE)
    await phone_ctx.add_cookies(await context.cookies())
    phone = await phone_ctx.new_page()
    await phone.goto(f"{url}/console/e/{ent_id}/employees/import")
    await phone.set_input_files("input[name=file]", files=[{
        "name": "员工导入-有误.xlsx", "buffer": filled_sheet(template, bad),
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    await phone.click("form[enctype] button[type=submit]")
    await phone.locator("table.table").wait_for()
    await shot(phone, "phone-import-errors")
    await phone.goto(f"{url}/console/e/{ent_id}/employees")
    await shot(phone, "phone-roster")
    await phone_ctx.close()

    # A small file padded with 100,000 empty rows is refused at once, in Chinese.
    padded = io.BytesIO()
    hostile_xlsx(padded, empty_rows=100_000)
    await hr.goto(f"{url}/console/e/{ent_id}/employees/import")
    await hr.set_input_files("input[name=file]", files=[{
        "name": "员工导入-空行.xlsx", "buffer": padded.getvalue(),
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    await hr.click("form[enctype] button[type=submit]")
    await hr.get_by_text("每次最多导入 10000 行（空行也计入）").wait_for()
    await shot(hr, "hr-import-padded-refused")

    await hr.goto(f"{url}/console/e/{ent_id}/employees")
    assert "共 3 人" in await body_text(hr)
    assert "周四" not in await body_text(hr)
    await hr.goto(f"{url}/console/e/{ent_id}/employees?tab=pending_review")
    assert "暂无员工" in await body_text(hr)
    await context.close()
