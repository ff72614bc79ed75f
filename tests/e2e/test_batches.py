"""Batch sending and a multi-document task in a real browser against a real server, on a
phone and on a 1366×768 PC.

HR opens the template's batch page, downloads the template's own Excel sheet, uploads it
filled with 50 rows of which two are bad, sees the two bad cells in the preview, confirms
and watches the progress page count the 48 contracts by itself. The employee opens a task
of three documents (contract + NDA + handbook acknowledgement), reads one, and signs all
three with one SMS code.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.async_api import expect

from core.context import RequestMeta
from core.signatures import add_signature
from core.templates import service, tasks
from core.templates.sending import Party
from tests.batch_support import model_row, sheet_with
from tests.contract_support import signature_png
from tests.e2e.conftest import PHONE
from tests.enterprise_factories import certified_enterprise, id_number
from tests.factories import login_as, make_user
from tests.template_support import basic_fields, short_contract_pdf

META = RequestMeta(ip="127.0.0.1", user_agent="e2e-setup")
PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}
DEVICES = {"phone": PHONE, "pc": PC}
SURNAMES = "赵钱孙李周吴郑王冯陈"
GIVEN = "一二三四五六七八九十"


@pytest.fixture
def fast_codes(monkeypatch):
    monkeypatch.setenv("LABORSIGN_SMS_PER_PHONE_INTERVAL_SECONDS", "1")


async def _setup(deps, device: str) -> dict[str, str]:
    n = "1" if device == "phone" else "2"
    admin = await make_user(deps, phone=f"1371235100{n}", verified=True, real_name="王五",
                            id_number=id_number(f"50{n}"))
    employee_phone = f"1371235200{n}"
    employee = await make_user(deps, phone=employee_phone, verified=True, real_name="张三",
                               id_number=id_number(f"51{n}"))
    await add_signature(deps, employee.id, signature_png(), META)
    enterprise_id, _ = await certified_enterprise(deps, owner_id=admin.id,
                                                  name="杭州示例劳务科技有限公司")
    model = await service.import_model(deps, admin.id, enterprise_id, meta=META)
    await service.publish(deps, admin.id, enterprise_id, model, meta=META)
    fields = [f for f in basic_fields() if f.get("filler") != "employee"]
    docs = []
    for name, kind in (("劳动合同", "其他"), ("保密协议", "保密协议"), ("员工手册确认书", "其他")):
        tid = await service.create_template(
            deps, admin.id, enterprise_id, name=name, business_type=kind, filename="x.pdf",
            pdf=short_contract_pdf(deps.config), fields=fields, meta=META)
        await service.publish(deps, admin.id, enterprise_id, tid, meta=META)
        docs.append(tid)
    task_id = await tasks.send_task(deps, admin.id, enterprise_id, docs,
                                    party=Party("张三", employee_phone),
                                    values={t: {"salary": "8000"} for t in docs}, meta=META)
    return {"enterprise_id": enterprise_id, "model": model, "task_id": task_id,
            "employee_phone": employee_phone,
            "admin_token": (await login_as(deps, admin)).session.token,
            "employee_token": (await login_as(deps, employee)).session.token}


async def _context_as(browser, url: str, token: str, device: dict):
    context = await browser.new_context(**device)
    await context.add_cookies([{"name": "ls_session", "value": token, "url": url}])
    return context, await context.new_page()


def _fifty_rows(header: list[str], device: str) -> bytes:
    prefix = "138" if device == "phone" else "139"
    rows = [model_row(SURNAMES[i % 10] + GIVEN[i // 10 % 10] + GIVEN[i % 10],
                      f"{prefix}{i + 1:08d}") for i in range(50)]
    rows[6][1] = "1380000"                       # row 8: a short phone
    rows[29][6] = id_number()[:17] + "Z"         # row 31: a bad ID check character
    return sheet_with(header, rows)


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_batch_of_fifty_from_excel_and_a_task_signed_with_one_code(
    fast_codes, deps, live_server, browser, shot, output_dir: Path, tmp_path: Path,
    device: str
) -> None:
    url = live_server.url
    data = await _setup(deps, device)
    # The templates and the task's documents were stored by this process: hand the files
    # to the server (its own file directory).
    shutil.copytree(deps.config.storage.file_dir, tmp_path / "server-var" / "files",
                    dirs_exist_ok=True)
    ent = data["enterprise_id"]
    ctx, hr = await _context_as(browser, url, data["admin_token"], DEVICES[device])
    await hr.goto(f"{url}/console/e/{ent}/templates")
    await hr.click(f"a[href='/console/e/{ent}/templates/{data['model']}/batch']")
    await hr.wait_for_selector("#batch-xlsx")
    await shot(hr, f"{device}-batch-page")
    async with hr.expect_download() as info:
        await hr.click("#batch-sheet")
    download = await info.value
    sheet = await asyncio.to_thread(Path(await download.path()).read_bytes)
    wb = load_workbook(io.BytesIO(sheet), read_only=True)
    header = [str(c) for c in next(wb["批量发起"].iter_rows(values_only=True))]
    wb.close()
    assert header[:2] == ["姓名*", "手机号*"]

    await hr.set_input_files("#batch-file", files=[{
        "name": "入职批量.xlsx", "mimeType": "application/vnd.openxmlformats-officedocument"
        ".spreadsheetml.sheet", "buffer": _fifty_rows(header, device)}])
    await hr.click("#batch-upload")
    await hr.wait_for_selector("#batch-preview")
    assert "48 行可发起" in await hr.inner_text("#batch-preview")
    errors = await hr.inner_text("#batch-errors")
    assert "8\t手机号" in errors and "31\t居民身份证号码" in errors
    assert await hr.locator("tr.row-error").count() == 2
    await shot(hr, f"{device}-batch-preview-two-bad-rows")

    await hr.click("#batch-confirm")
    await hr.wait_for_selector("#batch-progress")
    await shot(hr, f"{device}-batch-progress-started")
    # The page updates itself (it polls progress.json); no reload here.
    await expect(hr.locator("#bp-created")).to_have_text("48", timeout=240_000)
    await expect(hr.locator("#bp-notified")).to_have_text("48", timeout=60_000)
    assert (await hr.inner_text("#bp-state")) == "已完成"
    assert (await hr.inner_text("#bp-failed")) == "0"
    await shot(hr, f"{device}-batch-progress-done")
    await ctx.close()

    ctx, emp = await _context_as(browser, url, data["employee_token"], DEVICES[device])
    await emp.goto(f"{url}/tasks/{data['task_id']}")
    assert await emp.locator("a.task-doc").count() == 3
    await shot(emp, f"{device}-task-three-documents")
    await emp.click("a.task-doc >> nth=1")  # read the NDA
    await emp.wait_for_url(re.compile(r".*/contracts/[0-9a-f]{32}$"))
    # The document says it came with two others, and leads back to sign them together.
    assert "共 3 份" in await emp.inner_text("#task-note")
    await shot(emp, f"{device}-task-reading-nda")
    await emp.click("#go-task")
    await emp.wait_for_url(re.compile(rf".*/tasks/{data['task_id']}$"))
    await emp.check("#task-read")
    await emp.click("#task-start")
    await emp.wait_for_selector("#sign-code")
    code = await live_server.sms_code(data["employee_phone"])
    await emp.fill("#sign-code", code)
    await shot(emp, f"{device}-task-one-code")
    await emp.click("#task-confirm")
    await emp.wait_for_selector("#task-done", timeout=120_000)
    assert await emp.locator(".task-docs .badge-ok").count() == 3
    await shot(emp, f"{device}-task-all-signed")
    await ctx.close()
