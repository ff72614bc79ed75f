"""The console pages this work touched, in a real browser on a phone (390×844) and a PC
(1366×768): an endpoint the platform switched off after repeated failures reads so and is
switched on again with one click; the audit page offers its Excel and CSV export, which
download. Screenshots land in test-output/<test name>/."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from core.integration import webhooks as W
from storage.models import WebhookEndpoint
from tests.contract_support import META, parties
from tests.e2e.conftest import PHONE
from tests.e2e.test_console import sign_in
from tests.enterprise_factories import user_phone

PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}


async def _no_overflow(page) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_switched_off_endpoint_and_audit_export(deps, live_server, browser, shot,
                                                       device: str) -> None:
    p = await parties(deps)
    ent = p.enterprise_id
    made = await W.create_endpoint(deps, p.admin_id, ent, url="http://127.0.0.1:9/hook",
                                   event_types=["contract.sent"], description="人事系统",
                                   meta=META)
    async with deps.db.transaction() as tx:
        await tx.session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == made.endpoint.id).values(
                enabled=False, disabled_reason=W.DISABLED_FAILING,
                disabled_at=deps.clock.now(), consecutive_failures=W.AUTO_DISABLE_AFTER))
    wide = device == "pc"
    hooks = f"/console/e/{ent}/settings/webhooks"
    context, page = await sign_in(browser, live_server, await user_phone(deps, p.admin_id),
                                  PC if wide else PHONE, hooks)
    try:
        banner = page.locator("#webhook-auto-disabled")
        assert await banner.is_visible()
        assert "自动停用" in await banner.inner_text()
        assert "已自动停用" in await page.locator("#webhook-table").inner_text()
        if not wide:
            await _no_overflow(page)
        await shot(page, f"{device}-webhook-switched-off")
        await page.locator("#webhook-table button[value=enable]").click()
        await page.wait_for_url(f"**{hooks}?ok=saved")
        assert await page.locator("#webhook-auto-disabled").count() == 0
        [view] = await W.list_endpoints(deps, p.admin_id, ent)
        assert view.enabled and view.consecutive_failures == 0

        await page.goto(f"{live_server.url}/console/e/{ent}/audit")
        link = page.locator("#audit-export-xlsx")
        assert await link.is_visible() and await page.locator("#audit-export-csv").is_visible()
        if not wide:
            await _no_overflow(page)
        await shot(page, f"{device}-audit-export")
        async with page.expect_download() as info:
            await link.click()
        download = await info.value
        assert download.suggested_filename.startswith("操作日志-")
        assert download.suggested_filename.endswith(".xlsx")
    finally:
        await context.close()
