"""An employee on a phone: register → log out → log in by password with captcha →
real-name check (face, through the provider's page and back) → home shows verified."""

from __future__ import annotations

import aiohttp

from core.validators import id_card_check_char

PHONE = "13712345678"
PASSWORD = "Lab0r-Sign"


def valid_id_number() -> str:
    first17 = "11010519900307123"
    return first17 + id_card_check_char(first17)


async def captcha_answer(base_url: str, challenge_id: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(
        f"{base_url}/dev/api/captcha/{challenge_id}"
    ) as response:
        return (await response.json())["answer"]


async def test_register_login_and_pass_the_real_name_check(live_server, phone, shot) -> None:
    page, url = phone, live_server.url

    await page.goto(f"{url}/register")
    await page.fill("#f-phone", PHONE)
    await page.click("[data-send-code]")
    code = await live_server.sms_code(PHONE)
    await page.fill("#f-code", code)
    await page.fill("#f-password", PASSWORD)
    await page.fill("#f-password_confirm", PASSWORD)
    await page.check("#f-agree")
    await shot(page, "register-filled")
    await page.click("form button[type=submit].btn-block")
    await page.wait_for_url(f"{url}/**")
    await page.wait_for_selector("text=去实名认证")
    await shot(page, "registered-home")

    await page.goto(f"{url}/me")
    await shot(page, "profile")
    await page.click("text=退出登录")
    await page.wait_for_load_state()
    await page.goto(f"{url}/login?tab=password")
    await page.fill("#f-phone", PHONE)
    await page.fill("#f-password", PASSWORD)
    challenge = await page.get_attribute("[data-captcha-id]", "value")
    await page.fill("#f-captcha", await captcha_answer(url, challenge))
    await shot(page, "login-password-captcha")
    await page.click("form button[type=submit].btn-block")
    await page.wait_for_selector("text=去实名认证")

    await page.goto(f"{url}/identity")
    await page.fill("#f-name", "王小明")
    await page.fill("#f-id-number", valid_id_number())
    await page.fill("#f-email", "xiaoming@example.com")
    await page.check("input[name=method][value=face]")
    await page.check("input[name=notice_personal_info]")
    await page.check("input[name=notice_biometric]")
    await shot(page, "identity-form")
    await page.click("#identity-form button[type=submit]")
    await page.wait_for_url("**/dev/identity/face/**")
    await shot(page, "provider-liveness-page")
    await page.click("text=开始检测")
    await page.wait_for_url("**/identity**")
    await shot(page, "identity-result")

    await page.goto(url + "/")
    badge = page.locator(".badge-ok", has_text="已实名")
    await badge.wait_for()
    body = await page.inner_text("body")
    assert "您好，王小明" in body and "110105********123" in body  # own name, masked ID
    assert valid_id_number() not in body
    await shot(page, "home-verified")
