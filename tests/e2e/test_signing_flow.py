"""The whole signing flow in a real browser against a real server:

HR uploads a PDF on the console and places the boxes (drag + numeric) → the employee logs
in on the phone by SMS, opens the contract, is sent to the signature pad on the first
signing, draws with touch events, signs with the SMS code from the dev inbox → the seal
holder seals → the signed PDF is downloaded, rendered with pdftoppm and verified on /verify.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from core.context import RequestMeta
from core.enterprise import members as enterprise_members
from core.enterprise import roles
from core.enterprise import seals as enterprise_seals
from core.signing.samples import sample_contract_pdf
from storage.models import Seal
from tests.e2e.conftest import DESKTOP, PHONE
from tests.enterprise_factories import certified_enterprise, id_number
from tests.factories import login_as, make_user

META = RequestMeta(ip="127.0.0.1", user_agent="e2e-setup")
EMPLOYEE_PHONE = "13712340001"
SEALER_PHONE = "13712340002"
ADMIN_PHONE = "13712340003"


@pytest.fixture
def fast_codes(monkeypatch):
    """Login and signing codes to one phone within a minute: shorten the resend interval."""
    monkeypatch.setenv("LABORSIGN_SMS_PER_PHONE_INTERVAL_SECONDS", "1")


@pytest.fixture
def live_server_env(config) -> dict[str, str]:
    """With object storage on, the server uses the test's bucket, as the setup here does."""
    storage = config.storage
    if storage.backend != "s3":
        return {}
    return {f"LABORSIGN_STORAGE_{name.upper()}": str(getattr(storage, name)) for name in (
        "backend", "endpoint_url", "region", "bucket", "key_prefix", "addressing_style",
        "s3_access_key_id", "s3_secret_access_key")}


def _objects(request, config) -> set[str]:
    """The object keys in the test's bucket, without the prefix (contracts/…, seal/…)."""
    listed = request.getfixturevalue("s3_server").client().list_objects_v2(
        Bucket=config.storage.bucket)
    prefix = f"{config.storage.key_prefix}/"
    return {o["Key"].removeprefix(prefix) for o in listed.get("Contents", [])
            if o["Key"].startswith(prefix)}


async def _setup(deps) -> dict[str, str]:
    from sqlalchemy import select

    admin = await make_user(deps, phone=ADMIN_PHONE, verified=True, real_name="王五",
                            id_number=id_number("301"))
    enterprise_id, _ = await certified_enterprise(deps, owner_id=admin.id,
                                                  name="杭州示例劳务科技有限公司")
    sealer = await make_user(deps, phone=SEALER_PHONE, verified=True, real_name="赵六",
                             id_number=id_number("302"))
    await make_user(deps, phone=EMPLOYEE_PHONE, verified=True, real_name="张三",
                    id_number=id_number("303"))
    async with deps.db.transaction() as tx:
        hr_role = await roles.builtin_role_id(tx, enterprise_id, "hr")
        seal_id = (await tx.session.execute(select(Seal.id).where(
            Seal.enterprise_id == enterprise_id, Seal.kind == "contract"))).scalar_one()
    member = await enterprise_members.add_member(
        deps, admin.id, enterprise_id, phone=SEALER_PHONE, name="赵六", role_ids=[hr_role],
        meta=META)
    await enterprise_seals.grant_seal(deps, admin.id, enterprise_id, seal_id, member.id, META)
    return {
        "enterprise_id": enterprise_id, "seal_id": seal_id,
        "admin_token": (await login_as(deps, admin)).session.token,
        "sealer_token": (await login_as(deps, sealer)).session.token,
    }


async def _context_as(browser, url: str, token: str, device: dict):
    context = await browser.new_context(**device)
    await context.add_cookies([{"name": "ls_session", "value": token, "url": url}])
    return context, await context.new_page()


async def _new_code(live_server, phone: str, seen: int, wait: float = 15.0) -> str:
    """The newest code among the SMS to `phone` after the first `seen` ones."""
    deadline = time.monotonic() + wait
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"{live_server.url}/dev/api/sms", params={"phone": phone}) as r:
                messages = (await r.json())["messages"]
            # Newest first; a notice on its own job queue may land after the code.
            codes = [m["code"] for m in messages[:max(len(messages) - seen, 0)] if m["code"]]
            if codes:
                return codes[0]
            await asyncio.sleep(0.2)
    raise AssertionError(f"no new code for {phone}")


async def _draw_signature(page) -> None:
    """Finger strokes on the pad, as touch events through the DevTools protocol."""
    box = await page.locator("#pad-canvas").bounding_box()
    assert box is not None
    cdp = await page.context.new_cdp_session(page)
    strokes = [
        [(0.10, 0.70), (0.20, 0.25), (0.30, 0.75), (0.40, 0.30), (0.50, 0.70)],
        [(0.55, 0.45), (0.70, 0.40), (0.85, 0.50), (0.92, 0.35)],
    ]
    for stroke in strokes:
        points = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
                  for fx, fy in stroke]
        await cdp.send("Input.dispatchTouchEvent", {
            "type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            for step in range(1, 9):
                t = step / 8
                await cdp.send("Input.dispatchTouchEvent", {
                    "type": "touchMove",
                    "touchPoints": [{"x": x0 + (x1 - x0) * t, "y": y0 + (y1 - y0) * t}]})
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    await cdp.detach()


async def _sms_count(live_server, phone: str) -> int:
    return await live_server.sms_count(phone)


@pytest.mark.parametrize("storage_backend", ["local", "s3"])
async def test_hr_sends_employee_signs_enterprise_seals(
    fast_codes, deps, live_server, browser, shot, output_dir: Path, storage_backend: str,
    config, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = live_server.url
    data = await _setup(deps)

    # -- HR: upload and place the boxes on the console ---------------------------------
    hr_context, hr = await _context_as(browser, url, data["admin_token"], DESKTOP)
    await hr.goto(f"{url}/console/contracts/new")
    await hr.fill("input[name=title]", "劳动合同（张三）")
    await hr.set_input_files("input[name=file]", files=[{
        "name": "劳动合同.pdf", "mimeType": "application/pdf",
        "buffer": sample_contract_pdf(3)}])
    await shot(hr, "hr-upload")
    await hr.click("button[type=submit].btn-block")
    await hr.wait_for_url("**/console/contracts/*/edit")
    contract_id = hr.url.split("/")[-2]
    await hr.wait_for_selector("figure[data-page='3'] img")
    await hr.fill("#boxes_0", "3,72,110,242,250")  # the numeric fallback for the seal
    await hr.select_option("select[name=seal_0]", data["seal_id"])
    await hr.fill("input[name=name_1]", "张三")
    await hr.fill("input[name=phone_1]", EMPLOYEE_PHONE)
    await hr.check("input[name=active_row][value='1']")
    frame = hr.locator("figure[data-page='3'] .doc-frame")
    await frame.scroll_into_view_if_needed()
    fbox = await frame.bounding_box()
    assert fbox is not None
    # Drag the employee's box on the page image (lower right of page 3).
    await hr.mouse.move(fbox["x"] + fbox["width"] * 0.56, fbox["y"] + fbox["height"] * 0.70)
    await hr.mouse.down()
    await hr.mouse.move(fbox["x"] + fbox["width"] * 0.84, fbox["y"] + fbox["height"] * 0.80,
                        steps=5)
    await hr.mouse.up()
    placed = await hr.input_value("#boxes_1")
    assert placed.startswith("3,"), placed
    await shot(hr, "hr-boxes-placed")
    await hr.click("#send-contract")
    await hr.wait_for_url(re.compile(rf".*/contracts/{contract_id}\?done=sent$"))
    await shot(hr, "hr-sent")

    # -- employee: log in on the phone by SMS --------------------------------------------
    phone_context = await browser.new_context(**PHONE)
    page = await phone_context.new_page()
    seen = await _sms_count(live_server, EMPLOYEE_PHONE)  # the invitation with the link
    assert seen >= 1
    await page.goto(f"{url}/login?tab=sms")
    await page.fill("#f-phone", EMPLOYEE_PHONE)
    await page.click("[data-send-code]")
    await page.fill("#f-code", await _new_code(live_server, EMPLOYEE_PHONE, seen))
    await page.click("form button[type=submit].btn-block")
    await page.wait_for_selector("#todo-count")
    assert "1 份合同待签署" in await page.inner_text("#todo-count")
    await shot(page, "employee-home")
    await page.click("#contracts-todo a[href^='/contracts/']:not(#todo-count)")
    await page.wait_for_selector("#go-sign")
    await page.wait_for_selector("figure[data-page='1'] img")
    await shot(page, "employee-reads-contract")

    # -- first signing: 我的签名 offers the name seal or the pad; draw with the finger ---------
    await page.click("#go-sign")
    await page.wait_for_url(re.compile(r".*/me/signatures\?next=.*"))
    await page.locator(".sig-item[data-source=name_seal]").wait_for()
    await shot(page, "employee-chooses-a-signature")
    await page.click("#draw-here")
    await page.wait_for_url(re.compile(r".*/me/signatures/new\?next=.*"))
    await _draw_signature(page)
    await shot(page, "employee-pad-drawn")
    await page.click("#pad-submit")
    # -- the signing disclosure (告知), shown and accepted once before a first signing ---------
    await page.wait_for_url(f"**/contracts/{contract_id}/disclosure")
    await shot(page, "employee-disclosure")
    await page.check("#disclosure-agree")
    await page.click("#disclosure-accept")
    await page.wait_for_url(f"**/contracts/{contract_id}/sign")
    await shot(page, "employee-sign-page")

    # -- one tap, SMS code, done ---------------------------------------------------------------
    seen = await _sms_count(live_server, EMPLOYEE_PHONE)
    await page.click("#sign-start")
    await page.wait_for_selector("#sign-code")
    await page.locator(".doc-box-mine .doc-stamp").first.wait_for()
    await page.locator("figure[data-page='3']").scroll_into_view_if_needed()
    await shot(page, "employee-code-and-preview")
    await page.fill("#sign-code", await _new_code(live_server, EMPLOYEE_PHONE, seen))
    await page.click("#sign-confirm")
    await page.wait_for_selector("#sign-result")
    assert "签署成功" in await page.inner_text("#sign-result")
    await shot(page, "employee-signed")

    # -- the seal holder seals -------------------------------------------------------------------
    sealer_context, sealer = await _context_as(browser, url, data["sealer_token"], PHONE)
    await sealer.goto(f"{url}/contracts?tab=to_sign")
    await sealer.click(f"a[href='/contracts/{contract_id}']")
    await sealer.click("#go-sign")
    seen = await _sms_count(live_server, SEALER_PHONE)
    await sealer.click("#sign-start")
    await sealer.wait_for_selector("#sign-code")
    await shot(sealer, "sealer-code-and-seal-preview")
    await sealer.fill("#sign-code", await _new_code(live_server, SEALER_PHONE, seen))
    await sealer.click("#sign-confirm")
    await sealer.wait_for_selector("#download")
    await shot(sealer, "sealer-done-contract-complete")

    # -- both download; the signed pages; the public verification page --------------------------
    await page.goto(f"{url}/contracts/{contract_id}")
    await page.wait_for_selector("#download")
    await page.locator("figure[data-page='3']").scroll_into_view_if_needed()
    await shot(page, "employee-completed-contract")
    response = await page.request.get(f"{url}/contracts/{contract_id}/download")
    assert response.status == 200
    signed = await response.body()
    pdf_path = output_dir / "contract-signed.pdf"
    pdf_path.write_bytes(signed)
    assert signed.count(b"/ByteRange") == 2
    if shutil.which("pdftoppm"):
        await asyncio.to_thread(
            subprocess.run, ["pdftoppm", "-png", "-r", "70", "-f", "3", "-l", "3",
                             str(pdf_path), str(output_dir / "signed-page")], check=True)
        assert (output_dir / "signed-page-3.png").exists()
    async with aiohttp.ClientSession() as http, http.get(f"{url}/ca/root.crt") as r:
        (output_dir / "root.crt").write_bytes(await r.read())

    verify = await browser.new_context(**PHONE)
    anon = await verify.new_page()
    await anon.goto(f"{url}/verify")
    await anon.set_input_files("input[name=file]", str(pdf_path))
    await anon.click("form button[type=submit]")
    await anon.wait_for_selector("#verify-result")
    result = await anon.inner_text("#verify-result")
    assert "所有签名有效" in result and "张三" in result and "杭州示例劳务科技有限公司" in result
    await shot(anon, "verify-result")

    for context in (hr_context, phone_context, sealer_context, verify):
        await context.close()

    if storage_backend == "s3":
        # Everything the server kept went to the bucket; its local file directory is empty.
        areas = {key.split("/")[0] for key in await asyncio.to_thread(_objects, request, config)}
        assert {"contracts", "seal"} <= areas, areas
        local = tmp_path / "server-var" / "files"
        assert not await asyncio.to_thread(lambda: any(p.is_file() for p in local.rglob("*")))
