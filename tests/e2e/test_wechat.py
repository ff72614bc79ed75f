"""WeChat in a real browser: the chat simulator drives the real webhook; a new follower
registers through the bot's link and binds; PC QR login through the phone's browser and
through a WeChat scan of the pc_login scene."""

from __future__ import annotations

import itertools

from tests.e2e.conftest import DESKTOP

PASSWORD = "Lab0r-Sign"
_phones = itertools.count(13800138100)


async def bot_replies(page) -> list[str]:
    return await page.locator("li.sim-msg[data-role=bot]").all_inner_texts()


async def wait_bot_reply(page, count: int) -> str:
    """The newest bot bubble once there are `count` of them."""
    await page.wait_for_function(
        "n => document.querySelectorAll('li.sim-msg[data-role=bot]').length >= n", arg=count
    )
    return (await bot_replies(page))[-1]


async def register(page, live_server, phone_number: str) -> None:
    """Fill the register form on the page that is open (SMS code from the dev inbox)."""
    await page.fill("#f-phone", phone_number)
    await page.click("[data-send-code]")
    await page.fill("#f-code", await live_server.sms_code(phone_number))
    await page.fill("#f-password", PASSWORD)
    await page.fill("#f-password_confirm", PASSWORD)
    await page.check("#f-agree")
    await page.click("form button[type=submit].btn-block")


async def follow_register_and_bind(sim, live_server, shot, prefix: str) -> str:
    """In the simulator: a new user follows, registers through the greeting's link in a
    new page, and this WeChat is bound at once. Returns the phone number."""
    url = live_server.url
    await sim.goto(f"{url}/dev/wechat")
    await sim.click("#sim-new-openid")
    await sim.click("#sim-follow")
    greeting = await wait_bot_reply(sim, 1)
    assert "首次使用请" in greeting
    await shot(sim, f"{prefix}-greeting")
    link = sim.locator("li.sim-msg[data-role=bot] a.sim-link", has_text="注册").last
    href = await link.get_attribute("href")
    assert href and "/wechat/oauth/start" in href

    page = await sim.context.new_page()
    await page.goto(href)  # dev OAuth as the simulated openid → register page
    await page.wait_for_url("**/register**")
    number = str(next(_phones))
    await register(page, live_server, number)
    await page.wait_for_url("**/wechat/bind")
    # Bound by itself, as the greeting says: no confirm step after registering.
    await page.wait_for_selector("text=绑定成功")
    assert await page.locator("#bind-confirm").count() == 0
    await shot(page, f"{prefix}-bound")
    await page.goto(f"{url}/me")
    await page.locator("#wechat-binding", has_text="已绑定").wait_for()
    await shot(page, f"{prefix}-profile-bound")
    await page.close()
    return number


async def test_new_follower_registers_through_the_bot_and_is_known(live_server, phone,
                                                                  shot) -> None:
    sim = phone
    await follow_register_and_bind(sim, live_server, shot, "a")
    await sim.fill("#sim-text", "合同")
    await sim.click("#sim-send")
    reply = await wait_bot_reply(sim, 2)
    assert "还没有绑定账号" not in reply and "查看我的合同" in reply
    await sim.click("#sim-unfollow")
    await sim.click("#sim-follow")
    greeting = await wait_bot_reply(sim, 3)
    assert "您的账号已绑定本微信" in greeting and "去实名认证" in greeting
    await shot(sim, "a-simulator-knows-the-user")


async def test_pc_qr_login_confirmed_in_the_phone_browser(live_server, browser, phone,
                                                          shot) -> None:
    url = live_server.url
    desktop = await browser.new_context(**DESKTOP)
    pc = await desktop.new_page()
    await pc.goto(f"{url}/login?next=/me")
    await pc.click("#login-qr-tab")
    await pc.wait_for_selector("#qr-login svg")
    await shot(pc, "b-pc-qr")
    confirm = await pc.get_attribute("#qr-confirm-link", "href")
    assert confirm and confirm.startswith("/login/qr/confirm?t=")

    await phone.goto(f"{url}/register")
    await register(phone, live_server, str(next(_phones)))
    await phone.wait_for_selector("text=去实名认证")
    await phone.goto(url + confirm)
    await phone.wait_for_selector("#qr-confirm")
    await pc.locator("#qr-status", has_text="已扫码").wait_for()
    await shot(phone, "b-phone-confirm")
    await shot(pc, "b-pc-scanned")
    await phone.click("#qr-confirm")
    await phone.wait_for_selector("#qr-approved")
    await shot(phone, "b-phone-confirmed")

    await pc.wait_for_url(f"{url}/me", timeout=15000)  # no refresh: the page polls
    await pc.wait_for_selector("text=个人资料")
    await shot(pc, "b-pc-logged-in")
    await desktop.close()


async def test_pc_qr_login_by_scanning_the_scene_in_wechat(live_server, browser, phone,
                                                           shot) -> None:
    url = live_server.url
    sim = phone
    await follow_register_and_bind(sim, live_server, shot, "c")

    desktop = await browser.new_context(**DESKTOP)
    pc = await desktop.new_page()
    await pc.goto(f"{url}/login/qr?next=/me")
    scene = (await pc.inner_text("#qr-scene")).strip()
    await shot(pc, "c-pc-qr")

    await sim.goto(f"{url}/dev/wechat")  # reloads the scene list
    await sim.click("#sim-scan-panel summary")
    await sim.locator(f"#sim-scene option[value='{scene}']").wait_for(state="attached")
    await sim.select_option("#sim-scene", scene)
    await sim.click("#sim-scan")
    reply = await wait_bot_reply(sim, 1)
    assert "确认登录" in reply
    await pc.locator("#qr-status", has_text="已扫码").wait_for()
    await shot(sim, "c-bot-reply")
    await sim.locator("li.sim-msg[data-role=bot] a.sim-link", has_text="确认登录").last.click()
    await sim.wait_for_selector("#qr-confirm")
    await shot(sim, "c-phone-confirm")
    await sim.click("#qr-confirm")
    await sim.wait_for_selector("#qr-approved")

    await pc.wait_for_url(f"{url}/me", timeout=15000)
    await pc.wait_for_selector("text=个人资料")
    await shot(pc, "c-pc-logged-in")
    await desktop.close()
