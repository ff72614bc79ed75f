"""The verdict page on a phone: a valid contract, one changed after signing, one whose
timestamp was tampered with. The files are signed by the live server's own CA and TSA."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from core.config import load_config
from core.signing.samples import sample_contract_pdf
from handlers.app import build_deps
from tests.core.signing import pdfs
from tests.core.signing.test_verify import rewrite_timestamp, two_party_with
from tests.e2e.conftest import PHONE

pytestmark = pytest.mark.e2e


async def _files(url: str, db_url: str, var: Path) -> dict[str, bytes]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/ca/root.crt") as r:
        assert r.status == 200  # the server has created its CA: sign with the same one
    config = load_config(env={
        "LABORSIGN_DATABASE_URL": db_url,
        "LABORSIGN_SERVER_SECRET_KEY": "e2e-secret-key-not-for-production",
        "LABORSIGN_SERVER_VAR_DIR": str(var),
        "LABORSIGN_STORAGE_FILE_DIR": str(var / "files"),
        "LABORSIGN_SIGNING_CA_DIR": str(var / "ca"),
        "LABORSIGN_SERVER_BASE_URL": url,
    })
    deps = build_deps(config)
    try:
        valid = await two_party_with(deps, f"{url}/tsa")
        with_field = pdfs.with_text_field(sample_contract_pdf(3), "monthly_wage", "10000")
        modified = pdfs.with_text_field_filled(
            await two_party_with(deps, f"{url}/tsa", with_field, phone="13800000002"),
            "monthly_wage", "1")
    finally:
        await deps.db.dispose()
    return {"valid": valid, "modified": modified,
            "timestamp": rewrite_timestamp(valid, "borrow")}


async def test_verdicts_read_plainly_on_a_phone(
    live_server, browser, shot, output_dir: Path, db_url: str, tmp_path: Path
) -> None:
    files = await _files(live_server.url, db_url, tmp_path / "server-var")
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    expected = {
        "valid": "所有签名有效，签署后未被改动",
        "modified": "文件在签署后被改动过",
        "timestamp": "签署时间没有可靠的证明",
    }
    for name, data in files.items():
        path = output_dir / f"{name}.pdf"
        path.write_bytes(data)
        await page.goto(f"{live_server.url}/verify")
        await page.set_input_files("input[name=file]", str(path))
        await page.click("form button[type=submit]")
        await page.wait_for_selector("#verify-result")
        assert await page.get_attribute("#verify-result", "data-verdict") == name
        text = await page.inner_text("main")
        assert expected[name] in text and "张三" in text
        assert not await page.is_visible(".sig-details ul")  # certificate details folded
        await shot(page, f"verify-{name}")
    await page.click("#sig-2 .sig-details summary")
    assert await page.is_visible("#sig-2 .sig-details ul")
    await shot(page, "verify-timestamp-details-open")
    await context.close()
