"""Evidence in a real browser against a real server, on a phone (390×844) and a PC
(1366×768): a first-time signer reads and accepts the signing disclosure, signs; the
seal holder seals; the worker opens the trail, downloads the evidence report (rendered
to PNG with pdftoppm) and the package, and asks for a paper copy; HR sees the request in
the console and marks it printed, stamped and handed over; the console trail page."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import aiohttp
import pytest

from core.signatures import add_signature
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from tests.contract_support import signature_png
from tests.e2e.conftest import PHONE
from tests.e2e.test_signing_flow import (
    EMPLOYEE_PHONE,
    META,
    SEALER_PHONE,
    _context_as,
    _new_code,
    _setup,
    _sms_count,
)
from tests.factories import get_user, login_as

PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}


@pytest.fixture
def fast_codes(monkeypatch):
    monkeypatch.setenv("LABORSIGN_SMS_PER_PHONE_INTERVAL_SECONDS", "1")


async def _sign_in_browser(page, live_server, url: str, contract_id: str, phone: str) -> None:
    seen = await _sms_count(live_server, phone)
    await page.click("#sign-start")
    await page.wait_for_selector("#sign-code")
    await page.fill("#sign-code", await _new_code(live_server, phone, seen))
    await page.click("#sign-confirm")
    await page.wait_for_selector("#sign-result")


async def test_disclosure_trail_report_and_paper_copy(
    fast_codes, deps, live_server, browser, shot, output_dir: Path
) -> None:
    url = live_server.url
    data = await _setup(deps)
    async with deps.db.sessions() as session:
        from sqlalchemy import select

        from storage.models import User
        users = {u.phone: u for u in (await session.execute(select(User))).scalars()}
    worker = users[EMPLOYEE_PHONE]
    await add_signature(deps, worker.id, signature_png(), META)
    # Sent through the server's API (its files live in the server's own folder).
    form = aiohttp.FormData()
    form.add_field("enterprise_id", data["enterprise_id"])
    form.add_field("title", "劳动合同（张三）")
    form.add_field("signers", json.dumps([
        {"party": "person", "name": "张三", "phone": EMPLOYEE_PHONE,
         "boxes": [{"page": 3, "rect": list(EMPLOYEE_BOX)}]},
        {"party": "enterprise", "seal_id": data["seal_id"], "order": 2,
         "boxes": [{"page": 3, "rect": list(ENTERPRISE_BOX)}]}]))
    form.add_field("file", sample_contract_pdf(3), filename="劳动合同.pdf",
                   content_type="application/pdf")
    async with aiohttp.ClientSession() as http, http.post(
            f"{url}/api/v1/contracts", data=form,
            headers={"Authorization": f"Bearer {data['admin_token']}"}) as r:
        assert r.status == 201, await r.text()
        contract_id = (await r.json())["id"]
    worker_token = (await login_as(deps, await get_user(deps, worker.id))).session.token

    # -- phone: the first signing goes through the disclosure ------------------------------
    ctx, page = await _context_as(browser, url, worker_token, PHONE)
    await page.goto(f"{url}/contracts/{contract_id}")
    await page.click("#go-sign")
    await page.wait_for_url(f"**/contracts/{contract_id}/disclosure")
    await page.wait_for_selector("#disclosure")
    text = await page.inner_text("#disclosure")
    assert "免费" in text and "纸质" in text and "短信验证码" in text
    await shot(page, "phone-disclosure")
    await page.click("#disclosure-accept")  # not ticked: the browser keeps us here
    assert page.url.endswith("/disclosure")
    await page.check("#disclosure-agree")
    await page.click("#disclosure-accept")
    await page.wait_for_url(f"**/contracts/{contract_id}/sign")
    await _sign_in_browser(page, live_server, url, contract_id, EMPLOYEE_PHONE)

    # -- PC: the seal holder seals --------------------------------------------------------------
    sctx, spage = await _context_as(browser, url, data["sealer_token"], PC)
    await spage.goto(f"{url}/contracts/{contract_id}")
    await spage.click("#go-sign")
    await spage.wait_for_url(f"**/contracts/{contract_id}/sign")  # no disclosure for a seal
    await _sign_in_browser(spage, live_server, url, contract_id, SEALER_PHONE)
    await spage.wait_for_selector("#download")

    # -- phone: the trail, the report, the package, a paper copy ---------------------------------
    await page.goto(f"{url}/contracts/{contract_id}")
    await page.click("#trail-link")
    await page.wait_for_url(f"**/contracts/{contract_id}/trail")
    await page.wait_for_selector("#trail-events li")
    assert "短信验证码" in await page.inner_text("#trail-parties")
    assert "确认电子签约告知书" in await page.inner_text("#trail-events")
    await shot(page, "phone-trail-top")
    await page.locator("#trail-parties").scroll_into_view_if_needed()
    await shot(page, "phone-trail-parties")
    async with page.expect_download() as info:
        await page.click("#dl-report")
    download = await info.value
    report_path = output_dir / "phone-evidence-report.pdf"
    await download.save_as(report_path)
    assert download.suggested_filename.startswith("出证报告")
    async with page.expect_download() as info:
        await page.click("#dl-zip")
    zip_path = output_dir / "phone-evidence.zip"
    await (await info.value).save_as(zip_path)
    names = await asyncio.to_thread(lambda: zipfile.ZipFile(zip_path).namelist())
    assert {"contract.pdf", "evidence-report.pdf", "README.txt"} <= set(names)
    if shutil.which("pdftoppm"):
        await asyncio.to_thread(subprocess.run, ["pdftoppm", "-png", "-r", "60",
                                                 str(report_path),
                                                 str(output_dir / "report-page")], check=True)
        assert await asyncio.to_thread(lambda: list(output_dir.glob("report-page-*.png")))

    await page.fill("#paper-form input[name=note]", "到公司人事部领取")
    await page.click("#paper-submit")
    await page.wait_for_selector("#paper-state")
    assert "已申请" in await page.inner_text("#paper-state")
    await page.locator("#paper").scroll_into_view_if_needed()
    await shot(page, "phone-paper-requested")

    # -- PC: HR handles the request in the console ------------------------------------------------
    hctx, hr = await _context_as(browser, url, data["admin_token"], PC)
    await hr.goto(f"{url}/console/e/{data['enterprise_id']}/paper-copies")
    await hr.wait_for_selector("#paper-table .paper-next")
    await shot(hr, "pc-console-paper-requested")
    for label in ("已打印", "已盖章", "已交付"):
        await hr.click("#paper-table .paper-next")
        if label != "已交付":
            await hr.wait_for_selector(f"#paper-table .paper-state:has-text('{label}')")
    await hr.goto(f"{url}/console/e/{data['enterprise_id']}/paper-copies?state=done")
    assert "已交付" in await hr.inner_text("#paper-table")
    await shot(hr, "pc-console-paper-handed-over")
    await hr.goto(f"{url}/console/e/{data['enterprise_id']}/contracts")
    # Batch download: tick, build by a job, a link when ready.
    await hr.check(f"#contract-table input[name=ids][value='{contract_id}']")
    await shot(hr, "pc-console-contracts-ticked")
    await hr.click("#export-submit")
    await hr.wait_for_url(f"**/console/e/{data['enterprise_id']}/exports?ok=export_queued")
    for _ in range(60):
        if await hr.locator("#export-table .export-download").count():
            break
        await asyncio.sleep(0.5)
        await hr.reload()
    await shot(hr, "pc-console-export-ready")
    async with hr.expect_download() as info:
        await hr.click("#export-table .export-download")
    batch = await (await info.value).path()
    assert batch is not None
    batch_names = await asyncio.to_thread(lambda: zipfile.ZipFile(batch).namelist())
    assert any(n.endswith("/evidence-report.pdf") for n in batch_names)
    await hr.goto(f"{url}/console/e/{data['enterprise_id']}/contracts")
    await hr.click(f"a[href='/console/contracts/{contract_id}/trail']")
    await hr.wait_for_selector("#trail-events")
    assert "纸质副本已交付" in await hr.inner_text("#trail-events")
    await shot(hr, "pc-console-trail")
    async with hr.expect_download() as info:
        await hr.click("#dl-report")
    pc_report = await (await info.value).path()
    assert pc_report is not None

    # -- the worker sees the hand-over; the report page on a PC too -------------------------------
    await page.reload()
    assert "已交付" in await page.inner_text("#paper-state")
    pctx, pc_worker = await _context_as(browser, url, worker_token, PC)
    await pc_worker.goto(f"{url}/contracts/{contract_id}/trail")
    await pc_worker.wait_for_selector("#trail-events")
    await shot(pc_worker, "pc-worker-trail")
    # and the console's paper-copy list on a phone
    mctx, mhr = await _context_as(browser, url, data["admin_token"], PHONE)
    await mhr.goto(f"{url}/console/e/{data['enterprise_id']}/paper-copies?state=all")
    await shot(mhr, "phone-console-paper-list")

    # the report verifies on the public page
    vctx = await browser.new_context(**PHONE)
    anon = await vctx.new_page()
    await anon.goto(f"{url}/verify")
    await anon.set_input_files("input[type=file]", str(report_path))
    await anon.click("form button[type=submit]")
    await anon.wait_for_selector("#registered-report")
    await shot(anon, "phone-verify-report")
    for c in (ctx, sctx, hctx, pctx, mctx, vctx):
        await c.close()
