"""On a phone (390×844): HR sends a contract with 防抽页 and 骑缝章 from the console, the
page QR's link is read from the sent PDF and opened, and shows that page of the contract.
Screenshots and the rendered page land in test-output/<test name>/."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from core.contracts import common
from core.signing.samples import sample_contract_pdf
from storage.models import Contract, ContractDocument, Seal
from tests.e2e.conftest import PHONE
from tests.e2e.test_console import ENTERPRISE, sign_in
from tests.enterprise_factories import certified_enterprise, id_number
from tests.factories import make_user

ADMIN_PHONE = "13712380001"


@pytest.fixture
def live_server_env(config) -> dict[str, str]:
    """The server writes the contract files where this test reads them."""
    return {"LABORSIGN_STORAGE_FILE_DIR": config.storage.file_dir}


@pytest.fixture
def fast_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABORSIGN_SMS_PER_PHONE_INTERVAL_SECONDS", "1")


async def test_phone_sends_with_page_marks_and_opens_a_page_qr(
    fast_codes, deps, live_server, browser, shot, output_dir: Path
) -> None:
    admin = await make_user(deps, phone=ADMIN_PHONE, verified=True, real_name="王五",
                            id_number=id_number("404"))
    ent, _ = await certified_enterprise(deps, owner_id=admin.id, name=ENTERPRISE)
    async with deps.db.sessions() as session:
        seal_id = (await session.execute(select(Seal.id).where(
            Seal.enterprise_id == ent, Seal.kind == "contract"))).scalar_one()
    context, page = await sign_in(browser, live_server, ADMIN_PHONE, PHONE,
                                  "/console/contracts/new")
    await page.fill("input[name=title]", "劳动合同（防抽页）")
    await page.set_input_files("input[name=file]", files=[{
        "name": "劳动合同.pdf", "mimeType": "application/pdf",
        "buffer": sample_contract_pdf(3)}])
    await page.click("button[type=submit].btn-block")
    await page.wait_for_url("**/console/contracts/*/edit")
    contract_id = page.url.split("/")[-2]
    await page.fill("#boxes_0", "3,72,110,242,250")
    await page.select_option("select[name=seal_0]", seal_id)
    await page.fill("input[name=order_0]", "1")
    await page.fill("input[name=name_1]", "张三")
    await page.fill("input[name=phone_1]", "13800003801")
    await page.fill("input[name=order_1]", "2")
    await page.fill("#boxes_1", "3,330,170,500,250")
    await page.check("#opt-page-qr")
    await page.check("#opt-cross-seal")
    await page.locator("#contract-options").scroll_into_view_if_needed()
    await shot(page, "options-checked")
    await page.locator("#contract-options").screenshot(path=str(output_dir / "options.png"))
    await page.click("#send-contract")
    await page.wait_for_url(re.compile(rf".*/contracts/{contract_id}\?done=sent$"))

    async with deps.db.sessions() as session:
        contract = await session.get(Contract, contract_id)
        doc = (await session.execute(select(ContractDocument).where(
            ContractDocument.contract_id == contract_id))).scalar_one()
    assert contract is not None and contract.page_qr and contract.cross_seal
    pdf = await asyncio.to_thread(common.store(deps).get, doc.file_key)
    pdf_path = output_dir / "sent.pdf"
    pdf_path.write_bytes(pdf)
    await asyncio.to_thread(subprocess.run, ["pdftoppm", "-png", "-r", "60", "-f", "2", "-l",
                                             "2", str(pdf_path), str(output_dir / "sent")],
                            check=True)
    page_two = PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"][1].get_object()
    link = str(page_two["/Annots"][0].get_object()["/A"]["/URI"])
    assert link == f"{live_server.url}/verify/c/{contract.page_token}?p=2"

    anon = await browser.new_context(**PHONE)
    scan = await anon.new_page()
    await scan.goto(link)
    assert (await scan.inner_text("#page-of")).strip() == "第 2 页 / 共 3 页"
    assert await scan.inner_text("#page-title") == "劳动合同（防抽页）"
    assert await scan.inner_text("#page-sha256") == doc.current_sha256
    width = await scan.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390
    await shot(scan, "page-check")
    await anon.close()
    await context.close()
