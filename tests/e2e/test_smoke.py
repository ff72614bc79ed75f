"""The browser harness itself: the real server answers a real Chromium."""


async def test_dev_sms_inbox_renders_in_a_phone_browser(live_server, phone, shot) -> None:
    await phone.goto(f"{live_server.url}/dev/sms")
    assert await phone.locator("h1").inner_text() == "短信收件箱（开发）"
    await shot(phone, "dev-inbox")
