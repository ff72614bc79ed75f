"""The sending side urges (催办) and revokes (撤销) from the console, on a phone (390×844)
and on a PC (1366×768): a row's 催办 button, which then says how long to wait; 催办 on the
contract page; ticking two contracts and revoking them with a reason. Each signer gets
the SMS; then the enterprise sets its reminder schedule. Screenshots land in
test-output/<test name>/."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from core.contracts import send
from core.contracts.send import Box, SignerSpec
from core.enterprise import seals as enterprise_seals
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from storage.models import Member, Seal
from tests.e2e.conftest import PHONE
from tests.e2e.test_console import ENTERPRISE, inbox, sign_in
from tests.enterprise_factories import META, certified_enterprise, id_number
from tests.factories import make_user

ADMIN_PHONE = "13712370001"
CHEN, LIN = "13800003001", "13800003002"
PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}


async def _enterprise(deps) -> tuple[str, list[str]]:
    admin = await make_user(deps, phone=ADMIN_PHONE, verified=True, real_name="王五",
                            id_number=id_number("402"))
    ent, _ = await certified_enterprise(deps, owner_id=admin.id, name=ENTERPRISE)
    async with deps.db.sessions() as session:
        seal_id = (await session.execute(select(Seal.id).where(
            Seal.enterprise_id == ent, Seal.kind == "contract"))).scalar_one()
        member_id = (await session.execute(select(Member.id).where(
            Member.enterprise_id == ent, Member.user_id == admin.id))).scalar_one()
    await enterprise_seals.grant_seal(deps, admin.id, ent, seal_id, member_id, META)
    ids = []
    for name, phone in (("陈一", CHEN), ("林二", LIN)):
        title = f"劳动合同（{name}）"
        ids.append(await send.create_and_send(
            deps, admin.id, ent, title=title, filename="a.pdf", pdf=sample_contract_pdf(3),
            meta=META, signers=[
                SignerSpec("person", (Box(2, EMPLOYEE_BOX),), name=name, phone=phone),
                SignerSpec("enterprise", (Box(2, ENTERPRISE_BOX),), seal_id=seal_id, order=2),
            ]))
        deps.clock.advance(seconds=1)  # newest first: 林二, then 陈一
    return ent, ids


async def _texts(live_server, phone: str, needle: str, wait: float = 15.0) -> list[str]:
    deadline = time.monotonic() + wait
    while True:
        found = [m["text"] for m in await inbox(live_server, phone) if needle in m["text"]]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def _no_overflow(page) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_hr_urges_and_revokes_from_the_console(deps, live_server, browser, shot,
                                                     device) -> None:
    ent, (chen, lin) = await _enterprise(deps)
    path = f"/console/e/{ent}/contracts"
    context, page = await sign_in(browser, live_server, ADMIN_PHONE,
                                  PHONE if device == "phone" else PC, path)
    await page.wait_for_selector("#contract-table")
    await _no_overflow(page)
    await shot(page, f"{device}-list")

    # 催办 on 陈一's row
    row = page.locator(f"#contract-table tr[data-id='{chen}']")
    await row.locator("button.urge-one").click()
    await page.wait_for_selector("#bulk-result")
    assert "已催办 1 份合同" in await page.inner_text("#bulk-result")
    waiting = row.locator("button.urge-one")
    assert await waiting.is_disabled()
    assert await waiting.inner_text() == "已催办，10 小时后可再次催办"
    await _no_overflow(page)
    await shot(page, f"{device}-urged-from-list")
    assert await _texts(live_server, CHEN, "提醒您尽快签署")

    # 催办 on 林二's contract page
    await page.goto(f"{live_server.url}/contracts/{lin}")
    await page.click("#urge")
    await page.wait_for_selector("[data-flash]")
    assert "已催办" in await page.inner_text("[data-flash]")
    assert await page.locator("#urge").is_disabled()
    assert await page.inner_text("#urge") == "已催办，10 小时后可再次催办"
    await _no_overflow(page)
    await shot(page, f"{device}-urged-on-contract-page")
    assert await _texts(live_server, LIN, "提醒您尽快签署")

    # tick both and revoke them with a reason
    await page.goto(live_server.url + path)
    for cid in (chen, lin):
        await page.check(f"#contract-table tr[data-id='{cid}'] input[name=ids]")
    await page.click("#bulk-revoke summary")
    await page.fill("#revoke-reason", "岗位调整，合同重新发起")
    await shot(page, f"{device}-revoke-reason")
    await page.click("#bulk-revoke-go")
    await page.wait_for_selector("#bulk-result")
    assert "已撤销 2 份合同" in await page.inner_text("#bulk-result")
    for cid in (chen, lin):
        assert "已撤销" in await page.inner_text(f"#contract-table tr[data-id='{cid}']")
    await _no_overflow(page)
    await shot(page, f"{device}-revoked")
    for phone in (CHEN, LIN):
        assert await _texts(live_server, phone, "原因：岗位调整，合同重新发起")

    # the enterprise's automatic reminder schedule, in 设置
    await page.goto(f"{live_server.url}/console/e/{ent}/settings")
    await page.check("#reminder-settings input[name=enabled]")
    await page.fill("#r-first", "3")
    await page.fill("#r-every", "2")
    await page.fill("#r-max", "5")
    await page.click("#reminder-settings button[value=reminders]")
    await page.wait_for_selector(".alert-ok[role=status]")
    assert "发起 3 天后首次提醒，之后每 2 天提醒一次，最多 5 次" in await page.inner_text(
        "#reminder-settings")
    await _no_overflow(page)
    await shot(page, f"{device}-reminder-settings")
    await context.close()
