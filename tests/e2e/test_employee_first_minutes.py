"""An employee's first minutes on a phone: one message at a time on the register page,
the real-name form (a Hong Kong residence permit, no email), their own name on their
pages, the pre-made name seal in 我的签名, the pad on a phone turned on its side, and the
signature list on a PC."""

from __future__ import annotations

from tests.e2e.conftest import PHONE
from tests.e2e.test_signing_flow import _draw_signature
from tests.identity_support import id_number

MOBILE = "13712340001"
PASSWORD = "Lab0r-Sign"
LANDSCAPE = {**PHONE, "viewport": {"width": 844, "height": 390}}
PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}


# How many lines each method's name takes in the form (a Range over its text).
LINES_OF_METHOD_NAMES = """() => ["人脸识别", "手机号三要素", "银行卡四要素"].map(name => {
  const walker = document.createTreeWalker(
    document.querySelector("fieldset.methods"), NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, at = node.data.indexOf(name);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + name.length);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
  }
  return 0;
})"""


async def top_shot(shot, page, name: str) -> None:
    # From the top: a full-page shot of a scrolled page repeats the sticky top bar.
    await page.evaluate("window.scrollTo(0, 0)")
    await shot(page, name)


async def flash_texts(page) -> list[str]:
    """Every status message on the page (at most one may show)."""
    return [t.strip() for t in await page.locator("main .alert").all_inner_texts()]


async def test_first_minutes_on_the_phone_and_the_pc(live_server, browser, phone, shot) -> None:
    page, url = phone, live_server.url

    # -- register: an error, then "sent" replaces it -------------------------------------
    await page.goto(f"{url}/register")
    await page.click("form button[type=submit].btn-block")  # nothing filled in
    await page.wait_for_selector("main .alert-error")
    await page.fill("#f-phone", MOBILE)
    await page.click("[data-send-code]")
    await page.wait_for_selector("text=验证码已发送至")
    assert await flash_texts(page) == ["验证码已发送至 137****0001"]
    await top_shot(shot, page, "register-code-sent-replaces-the-error")
    await page.fill("#f-code", await live_server.sms_code(MOBILE))
    await page.fill("#f-password", PASSWORD)
    await page.fill("#f-password_confirm", PASSWORD)
    await page.check("#f-agree")
    await page.click("form button[type=submit].btn-block")
    await page.wait_for_selector("text=去实名认证")

    # -- real-name form: residence permit, no email; method names on one line -------------
    await page.click("text=去实名认证")
    await page.wait_for_selector("#identity-form")
    assert await page.evaluate(LINES_OF_METHOD_NAMES) == [1, 1, 1], "a method name wraps"
    await page.select_option("#f-id-type", "hmt_residence")
    assert await page.is_disabled("input[name=method][value=carrier3]") is False
    await page.fill("#f-name", "陈大文")
    await page.fill("#f-id-number", id_number(region="810000"))
    await page.check("input[name=method][value=carrier3]")
    await page.check("input[name=notice_personal_info]")
    await top_shot(shot, page, "identity-form-residence-permit")
    await page.click("#identity-form button[type=submit]")
    await page.wait_for_selector(".identity-status[data-state=verified]")
    assert "陈大文" in await page.inner_text(".identity-status")
    await top_shot(shot, page, "identity-verified-own-name")
    await page.click("text=返回首页")
    await page.wait_for_selector("text=您好，陈大文")
    await top_shot(shot, page, "home-greets-by-name")

    # -- 我的签名: the name seal is offered, chosen as default ------------------------------
    await page.click("#home-links a[href='/me/signatures']")
    seal = page.locator(".sig-item[data-source=name_seal]")
    await seal.wait_for()
    await seal.locator("button", has_text="设为默认").click()
    await page.wait_for_selector(".sig-item[data-source=name_seal] .badge-ok")
    await top_shot(shot, page, "signatures-name-seal-default")

    # -- the pad on a phone turned on its side: buttons in view ---------------------------
    cookies = await page.context.cookies()
    side = await browser.new_context(**LANDSCAPE)
    await side.add_cookies(cookies)
    pad = await side.new_page()
    await pad.goto(f"{url}/me/signatures")
    await pad.click("#draw-here")
    await pad.wait_for_selector("#pad-canvas")
    for button in ("#pad-clear", "#pad-submit"):
        box = await pad.locator(button).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 390, f"{button} below the fold"
    canvas = await pad.locator("#pad-canvas").bounding_box()
    assert canvas is not None and canvas["height"] >= 150 and canvas["y"] + canvas["height"] <= 390
    await _draw_signature(pad)
    await pad.screenshot(path=str(shot.folder / "pad-landscape-844x390.png"))
    await pad.click("#pad-submit")
    await pad.wait_for_url("**/me/signatures?added=1")
    await side.close()

    # -- the list on a PC: every thumbnail whole inside its frame -------------------------
    desk = await browser.new_context(**PC)
    await desk.add_cookies(cookies)
    pc = await desk.new_page()
    await pc.goto(f"{url}/me/signatures")
    await pc.wait_for_selector(".sig-item img")
    images = pc.locator(".sig-thumb img")
    assert await images.count() == 2
    for i in range(await images.count()):
        fit = await images.nth(i).evaluate(
            "img => ({fit: getComputedStyle(img).objectFit, loaded: img.complete"
            " && img.naturalWidth > 0, inFrame: img.getBoundingClientRect().top >="
            " img.parentElement.getBoundingClientRect().top})")
        assert fit == {"fit": "contain", "loaded": True, "inFrame": True}
    await pc.screenshot(path=str(shot.folder / "pc-signature-list-1366x768.png"))
    await desk.close()
