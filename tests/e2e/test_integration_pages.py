"""The console's integration settings in a real browser, on a phone (390×844) and a PC
(1366×768): add a webhook endpoint (its secret shown once), see the real server's signed
deliveries to a real receiver in the delivery log, redeliver one that failed while the
receiver was down, and make an API key that then works against the API.
Screenshots land in test-output/<test name>/."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest

from core.contracts import ending
from tests.contract_support import META, parties, send_contract
from tests.e2e.conftest import PHONE
from tests.e2e.test_console import sign_in
from tests.enterprise_factories import user_phone
from tests.integration_support import start_receiver

PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}


async def _no_overflow(page) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


async def _wait_for(check, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.2)):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_webhook_and_api_key_pages(deps, live_server, browser, aiohttp_server, shot,
                                         device: str) -> None:
    p = await parties(deps)
    receiver = await start_receiver(aiohttp_server, time.time)
    ent = p.enterprise_id
    wide = device == "pc"
    page_url = f"/console/e/{ent}/settings/webhooks"
    context, page = await sign_in(browser, live_server, await user_phone(deps, p.admin_id),
                                  PC if wide else PHONE, f"/console/e/{ent}/settings")
    try:
        # -- add an endpoint through the form: the secret is shown on this page only ----
        await page.click("nav.console-subnav >> text=事件回调")
        await page.wait_for_url(f"**{page_url}")
        await page.fill("#w-url", receiver.url)
        await page.fill("#w-desc", "人事系统")
        for box in await page.locator("input[name=event_types]").all():
            if await box.get_attribute("value") not in ("contract.sent", "contract.revoked"):
                await box.uncheck()
        await page.click("button[value=create]")
        receiver.secret = await page.locator("#secret-value").inner_text()
        assert receiver.secret.startswith("whsec_")
        if not wide:
            await _no_overflow(page)
        await shot(page, f"{device}-webhook-secret")
        await page.goto(live_server.url + page_url)
        assert receiver.secret not in await page.content()
        assert "人事系统" in await page.locator("#webhook-table").inner_text()

        # -- the server delivers; then the receiver is down for the next event -----------
        first = await send_contract(deps, p, title="劳动合同（陈一）")
        await _wait_for(lambda: _true(len(receiver.accepted) == 1))
        receiver.down = True
        await ending.revoke_contract(deps, p.admin_id, first, "信息填错", META)
        await _wait_for(lambda: _true(receiver.hits == 2))
        await page.reload()
        rows = page.locator("#delivery-table tbody tr")
        await _wait_for(lambda: _rows(rows, 2))
        texts = await rows.all_inner_texts()
        assert "合同已撤销" in texts[0] and "等待重试" in texts[0] and "HTTP 503" in texts[0]
        assert "合同已发起" in texts[1] and "成功" in texts[1] and "HTTP 200" in texts[1]
        assert await page.locator("#webhook-table thead").is_visible() == wide
        if not wide:
            await _no_overflow(page)
        await shot(page, f"{device}-webhooks-log")

        # -- back up: 重新投递 sends the revoked event at once ------------------------------
        receiver.down = False
        await rows.nth(0).locator("text=重新投递").click()
        await page.wait_for_url(re.compile(r".*settings/webhooks\?ok=redelivered$"))
        await _wait_for(lambda: _true(receiver.types() == ["contract.sent",
                                                           "contract.revoked"]))
        await page.reload()
        assert "成功" in await rows.nth(0).inner_text()
        await shot(page, f"{device}-webhooks-redelivered")

        # API keys: make one, it works, it shows when it was used.
        await page.click("nav.console-subnav >> text=API 密钥")
        await page.wait_for_url(f"**/console/e/{ent}/settings/api-keys")
        await page.fill("#k-name", "薪资系统对接")
        await page.check("input[name=scope][value=read]")
        await page.click("button[value=create]")
        token = await page.locator("#token-value").inner_text()
        assert token.startswith("lsk_")
        await shot(page, f"{device}-api-key-created")
        async with aiohttp.ClientSession() as http, http.get(
                f"{live_server.url}/api/v1/events", params={"after": "1"},
                headers={"Authorization": f"Bearer {token}"}) as resp:
            events = (await resp.json())["events"]
        assert resp.status == 200 and [e["type"] for e in events] == ["contract.revoked"]
        await page.goto(live_server.url + f"/console/e/{ent}/settings/api-keys")
        assert token not in await page.content()
        assert "最近使用" in await page.locator("#key-table").inner_text()
        if not wide:
            await _no_overflow(page)
        await shot(page, f"{device}-api-keys")
    finally:
        await context.close()


async def _true(value: bool) -> bool:
    return value


async def _rows(rows, n: int) -> bool:
    return await rows.count() >= n and "暂无" not in await rows.first.inner_text()
