"""Templates in a real browser against a real server, on a phone and on a 1366×768 PC:

HR uploads a labour contract that lacks two Art. 17 clauses, builds the template by tapping
field types onto the page, dragging and resizing them and typing a position, fails the
labour-law check, fixes it (the phone swaps in the 人社部 model text, the PC uploads a
corrected PDF; the fields stay), publishes, picks the employee from the roster, previews
and sends one contract. The employee fills in their own field (乙方补全) on the phone and
signs; the signed PDF is rendered with pdftoppm for people to look at.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from core.context import RequestMeta
from core.signatures import add_signature
from core.templates.fill import pdf_text
from storage.models import Employee
from tests.contract_support import signature_png
from tests.e2e.conftest import PHONE
from tests.enterprise_factories import certified_enterprise, id_number
from tests.factories import login_as, make_user
from tests.template_support import short_contract_pdf

META = RequestMeta(ip="127.0.0.1", user_agent="e2e-setup")
PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}
DEVICES = {"phone": PHONE, "pc": PC}


@pytest.fixture
def fast_codes(monkeypatch):
    monkeypatch.setenv("LABORSIGN_SMS_PER_PHONE_INTERVAL_SECONDS", "1")


async def _setup(deps, device: str) -> dict[str, str]:
    n = "1" if device == "phone" else "2"
    admin = await make_user(deps, phone=f"1371234100{n}", verified=True, real_name="王五",
                            id_number=id_number(f"40{n}"))
    employee_phone = f"1371234200{n}"
    employee = await make_user(deps, phone=employee_phone, verified=True, real_name="张三",
                               id_number=id_number(f"41{n}"))
    await add_signature(deps, employee.id, signature_png(), META)
    enterprise_id, _ = await certified_enterprise(deps, owner_id=admin.id,
                                                  name="杭州示例劳务科技有限公司")
    async with deps.db.transaction() as tx:
        now = deps.clock.now()
        tx.session.add(Employee(enterprise_id=enterprise_id, name="张三", phone=employee_phone,
                                position="测试工程师", status="active", source="manual",
                                fields={}, created_at=now, updated_at=now))
    return {"enterprise_id": enterprise_id, "employee_phone": employee_phone,
            "admin_token": (await login_as(deps, admin)).session.token,
            "employee_token": (await login_as(deps, employee)).session.token}


async def _context_as(browser, url: str, token: str, device: dict):
    context = await browser.new_context(**device)
    await context.add_cookies([{"name": "ls_session", "value": token, "url": url}])
    return context, await context.new_page()


async def _new_code(live_server, phone: str, seen: int, wait: float = 15.0) -> str:
    deadline = time.monotonic() + wait
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"{live_server.url}/dev/api/sms", params={"phone": phone}) as r:
                messages = (await r.json())["messages"]
            codes = [m["code"] for m in messages[:max(len(messages) - seen, 0)] if m["code"]]
            if codes:
                return codes[0]
            await asyncio.sleep(0.2)
    raise AssertionError(f"no new code for {phone}")


async def _tap(page, device: str, x: float, y: float) -> None:
    if device == "phone":
        await page.touchscreen.tap(x, y)
    else:
        await page.mouse.click(x, y)


async def _place(page, device: str, kind_label: str, page_no: int, fx: float, fy: float
                 ) -> None:
    """Tap a field type in the palette, then tap the page at (fx, fy) of its size."""
    await page.click(f"#palette .chip:text-is('{kind_label}')")
    frame = page.locator(f"figure[data-page='{page_no}'] .doc-frame")
    await frame.scroll_into_view_if_needed()
    box = await frame.bounding_box()
    assert box is not None
    await _tap(page, device, box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
    await page.wait_for_selector("#field-panel:not([hidden])")


async def _drag(page, selector: str, dx: float, dy: float) -> None:
    """Press, move in steps, release: pointer events, as a finger or a mouse does."""
    el = page.locator(selector).first
    await el.scroll_into_view_if_needed()
    b = await el.bounding_box()
    assert b is not None
    x, y = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x + dx, y + dy, steps=6)
    await page.mouse.up()


async def _fields(page) -> list[dict]:
    return await page.evaluate("JSON.parse(document.getElementById('fields_json').value)")


async def _view(page, output_dir: Path, name: str) -> None:
    """What the screen shows (sticky palette and the phone's bottom sheet in place)."""
    await page.screenshot(path=str(output_dir / f"view-{name}.png"))


async def _done_editing(page, device: str) -> None:
    if device == "phone":
        await page.click("#fp-close")


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_build_check_fix_publish_and_send_a_template(
    fast_codes, deps, live_server, browser, shot, output_dir: Path, device: str
) -> None:
    url = live_server.url
    data = await _setup(deps, device)
    ent = data["enterprise_id"]
    ctx, hr = await _context_as(browser, url, data["admin_token"], DEVICES[device])

    # -- from the console's navigation to a new template ---------------------------------------
    await hr.goto(f"{url}/console/e/{ent}")
    await hr.click("nav.console-nav a:text-is('模板')")
    await hr.wait_for_url(f"**/console/e/{ent}/templates")
    await hr.fill("#t-name", "劳动合同（研发岗）")
    await hr.select_option("#t-type", "劳动合同")
    await hr.set_input_files("#t-file", files=[{
        "name": "劳动合同.pdf", "mimeType": "application/pdf",
        "buffer": short_contract_pdf(deps.config)}])
    await shot(hr, f"{device}-new-template")
    await hr.click("#template-create button[type=submit]")
    await hr.wait_for_url(re.compile(r".*/templates/[0-9a-f]{32}\?ok=saved$"))
    await hr.wait_for_selector("figure[data-page='2'] img")

    # -- tap to place, drag to move, handle to resize, type a position -------------------------
    await _place(hr, device, "文本", 1, 0.45, 0.115)
    await hr.fill("#fp-label", "乙方姓名")
    await _drag(hr, ".tpl-selected", 24, 6)
    moved = (await _fields(hr))[0]["placements"][0]
    assert moved["x"] > 0.3
    await _drag(hr, ".tpl-selected .tpl-handle", 30, 4)
    resized = (await _fields(hr))[0]["placements"][0]
    assert resized["w"] > moved["w"] + 0.02, (moved, resized)
    await hr.fill("#fp-x", "28.5")
    assert (await _fields(hr))[0]["placements"][0]["x"] == pytest.approx(0.285)
    await shot(hr, f"{device}-field-selected")
    await _view(hr, output_dir, f"{device}-field-selected")
    await _done_editing(hr, device)

    await _place(hr, device, "文本", 1, 0.72, 0.13)
    await hr.fill("#fp-label", "住址")
    await hr.select_option("#fp-filler", "employee")
    await _done_editing(hr, device)
    await _place(hr, device, "盖章", 2, 0.25, 0.35)
    await _done_editing(hr, device)
    await _place(hr, device, "签名", 2, 0.7, 0.3)
    await _done_editing(hr, device)
    await _place(hr, device, "签署日期", 2, 0.7, 0.42)
    await hr.select_option("#fp-format", "iso")
    await _done_editing(hr, device)
    fields = await _fields(hr)
    assert [f["kind"] for f in fields] == ["text", "text", "seal", "signature", "sign_date"]
    await hr.locator("figure[data-page='1']").scroll_into_view_if_needed()
    await shot(hr, f"{device}-fields-placed")
    await _view(hr, output_dir, f"{device}-fields-placed-page1")
    await hr.locator("figure[data-page='2']").scroll_into_view_if_needed()
    await _view(hr, output_dir, f"{device}-fields-placed-page2")

    # -- publishing fails the labour-law check --------------------------------------------------
    await hr.click("#publish-template")
    await hr.wait_for_selector("#law-check .law-list")
    alert = await hr.inner_text(".console-main .alert-error")
    assert "社会保险" in alert and "劳动保护" in alert
    reasons = await hr.inner_text("#law-check .law-list")
    assert "第十七条" in reasons
    await hr.locator("#law-check").scroll_into_view_if_needed()
    await shot(hr, f"{device}-law-check-failed")
    await _view(hr, output_dir, f"{device}-law-check-failed")
    assert len(await _fields(hr)) == 5  # saved before the refusal

    # -- fix it: the model text (phone) or a corrected PDF (PC); the fields stay -----------------
    if device == "phone":
        await hr.click("#use-model")
    else:
        fixed = short_contract_pdf(deps.config, extra=[
            "五、社会保险：甲方依法为乙方缴纳社会保险。",
            "六、劳动保护、劳动条件和职业危害防护：甲方提供符合国家规定的劳动条件和劳动保护，"
            "如实告知职业危害。"])
        await hr.set_input_files("#r-file", files=[{
            "name": "劳动合同（修订）.pdf", "mimeType": "application/pdf", "buffer": fixed}])
        await hr.click("form[action$='/file'] button:text-is('上传并替换')")
    await hr.wait_for_url(re.compile(r".*\?ok=replaced$"))
    assert len(await _fields(hr)) == 5
    await hr.click("#run-check")
    await hr.wait_for_selector("#law-check .alert-ok")
    await hr.click("#publish-template")
    await hr.wait_for_url(re.compile(r".*\?ok=published$"))
    assert "v1" in await hr.inner_text(".tpl-crumb")
    await shot(hr, f"{device}-published")

    # -- send one: pick from the roster, preview, send ------------------------------------------
    await hr.click("#send-from-template")
    await hr.fill("#roster-q", "张")
    await hr.click("#roster-search")
    await hr.click("#roster-results a:text-is('选择')")
    await hr.wait_for_url(re.compile(r".*/send\?employee=.*"))
    assert await hr.input_value("#name_emp") == "张三"
    assert await hr.input_value("#phone_emp") == data["employee_phone"]
    name_field = next(f for f in fields if f["label"] == "乙方姓名")
    assert await hr.input_value(f"#v_{name_field['key']}") == "张三"  # suggested
    await hr.click("#preview-contract")
    await hr.wait_for_selector("#preview img.preview-page")
    await hr.locator("#preview").scroll_into_view_if_needed()
    await shot(hr, f"{device}-preview")
    await _view(hr, output_dir, f"{device}-preview")
    await hr.click("#send-template-contract")
    await hr.wait_for_url(re.compile(r".*/contracts/[0-9a-f]{32}\?done=sent$"))
    contract_id = hr.url.split("/")[-1].split("?")[0]
    await shot(hr, f"{device}-sent")

    # -- the employee fills their part on the phone, then signs ---------------------------------
    ectx, emp = await _context_as(browser, url, data["employee_token"], PHONE)
    await emp.goto(f"{url}/contracts/{contract_id}/sign")
    await emp.wait_for_url(f"**/contracts/{contract_id}/fill")
    await shot(emp, f"{device}-employee-fill")
    await emp.click("#fill-submit")  # empty: the required field is refused in Chinese
    assert "请填写" in await emp.inner_text(".alert-error")
    address = next(f for f in fields if f["label"] == "住址")
    await emp.fill(f"#f-{address['key']}", "浙江省杭州市西湖区天目山路100号")
    await emp.click("#fill-submit")
    await emp.wait_for_url(f"**/contracts/{contract_id}/sign")
    seen = await live_server.sms_count(data["employee_phone"])
    await emp.click("#sign-start")
    await emp.wait_for_selector("#sign-code")
    await emp.fill("#sign-code", await _new_code(live_server, data["employee_phone"], seen))
    await emp.click("#sign-confirm")
    await emp.wait_for_selector("#sign-result")
    assert "签署成功" in await emp.inner_text("#sign-result")
    await shot(emp, f"{device}-employee-signed")

    response = await emp.request.get(f"{url}/contracts/{contract_id}/download")
    assert response.status == 200
    pdf = await response.body()
    pdf_path = output_dir / f"{device}-contract.pdf"
    pdf_path.write_bytes(pdf)
    text = (await asyncio.to_thread(pdf_text, pdf)).replace(" ", "")
    assert "张三" in text and "天目山路100号" in text
    if shutil.which("pdftoppm"):
        await asyncio.to_thread(subprocess.run, ["pdftoppm", "-png", "-r", "60", str(pdf_path),
                                                 str(output_dir / f"{device}-contract")],
                                check=True)
    for c in (ctx, ectx):
        await c.close()
