"""A certifier who gets the deposit amount wrong three times is told, in Chinese, to wait
before sending another deposit; restarting at once is refused on the page. Repeated
failures show on the operator console."""

from __future__ import annotations

import pytest

from core.context import Deps
from core.enterprise import certification as cert
from core.enterprise import proofs
from core.enterprise.operators import create_operator
from core.errors import InvalidInput
from tests.e2e.conftest import PHONE
from tests.enterprise_factories import META, deposit_amount, session_token, submit, user_phone
from tests.enterprise_factories import make_user as make_verified_user

ENTERPRISE = "测试科技有限公司"


async def test_used_up_deposit_cannot_be_restarted_at_once(deps: Deps, live_server, browser,
                                                           shot) -> None:
    url = live_server.url
    user = await make_verified_user(deps)
    ent = await submit(deps, user)
    context = await browser.new_context(**PHONE)
    await context.add_cookies([{"name": "ls_session", "value": await session_token(deps, user),
                                "url": url}])
    page = await context.new_page()
    await page.goto(f"{url}/console")
    await page.click("text=继续认证")
    await page.wait_for_url(f"{url}/console/certify/{ent.id}")

    async def send_deposit() -> None:
        form = page.locator(f"form[action='/console/certify/{ent.id}/deposit']")
        await form.locator("input[name=account_name]").fill(ENTERPRISE)
        await form.locator("input[name=account_number]").fill("6222020200001234567")
        await form.locator("input[name=bank_name]").fill("中国工商银行杭州文三路支行")
        await form.locator("button[type=submit]").click()

    await send_deposit()
    await page.wait_for_url("**/console/attempt/*?ok=paid")
    assert "每天最多发起 3 次打款验证" in await page.inner_text("#deposit-rules")
    await shot(page, "deposit-sent-with-rules")
    right = await deposit_amount(deps, page.url.split("/")[-1].split("?")[0])
    for wrong in [a for a in ("0.97", "0.98", "0.99") if a != right] + ["0.96"]:
        await page.fill("#f-amt", wrong)
        await page.click("form[action$='/deposit'] button[type=submit]")
        message = page.locator("div.alert-error")
        await message.wait_for()
        if "金额错误次数过多" in await message.inner_text():
            break
    assert "请 60 分钟后再重新发起" in await page.inner_text("div.alert-error")
    await shot(page, "deposit-used-up")

    await page.click("text=重新选择认证方式")
    await page.wait_for_url(f"{url}/console/certify/{ent.id}")
    await send_deposit()
    alert = page.locator(".alert-error", has_text="对公打款验证错误次数过多，请 60 分钟后再试")
    await alert.wait_for()
    await shot(page, "restart-refused")
    await context.close()


async def test_operator_sees_the_alert_of_repeated_failures(deps: Deps, clock, live_server,
                                                            browser, shot) -> None:
    user = await make_verified_user(deps)
    ent = await submit(deps, user)
    for _ in range(2):  # two used-up deposits within a day: repeated failures
        attempt = await cert.start_deposit(
            deps, user, ent.id, account_name=ENTERPRISE, account_number="6222020200001234",
            bank_name="工商银行", meta=META)
        right = await deposit_amount(deps, attempt.id)
        for amount in [a for a in ("0.97", "0.98", "0.99", "0.96") if a != right][:3]:
            with pytest.raises(InvalidInput):
                await cert.confirm_deposit(deps, user, attempt.id, amount, META)
        clock.advance(seconds=proofs.DEPOSIT.cooldown_seconds + 1)
    operator = await make_verified_user(deps)
    await create_operator(deps, await user_phone(deps, operator))
    context = await browser.new_context(**PHONE)
    await context.add_cookies([{"name": "ls_session",
                                "value": await session_token(deps, operator),
                                "url": live_server.url}])
    page = await context.new_page()
    await page.goto(f"{live_server.url}/operator")
    alerts = page.locator("#proof-alerts")
    await alerts.locator("text=24 小时内多次验证失败").wait_for()
    assert ENTERPRISE in await alerts.inner_text()
    await shot(page, "operator-alerts")
    await context.close()
