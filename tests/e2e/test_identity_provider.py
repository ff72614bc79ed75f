"""The face check reaches a provider on another origin, as Tencent FaceID is.

The server runs at http://127.0.0.1:PORT; the dev identity provider is configured at
http://localhost:PORT, another origin to the browser. Tapping 提交认证 must land on the
provider's liveness page and the check must come back and complete: a form post that
redirects to another origin is stopped by the pages' CSP (form-action 'self')."""

from __future__ import annotations

import pytest

from core.context import Deps
from core.validators import id_card_check_char
from tests.e2e.conftest import PHONE
from tests.factories import login_as, make_user

ID_FIRST17 = "11010519900307321"


@pytest.fixture
def live_server_env() -> dict[str, str]:
    return {"LABORSIGN_IDENTITY_DEV_URL": "http://localhost:{port}"}


async def test_face_check_with_the_provider_on_another_origin(
    deps: Deps, live_server, browser, shot
) -> None:
    url = live_server.url
    provider = url.replace("127.0.0.1", "localhost")
    user = await make_user(deps, phone="13712360001")
    token = (await login_as(deps, user)).session.token
    context = await browser.new_context(**PHONE)
    await context.add_cookies([{"name": "ls_session", "value": token, "url": url}])
    page = await context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text
            else None)

    await page.goto(url + "/")
    await page.click("text=去实名认证")
    await page.wait_for_url(f"{url}/identity")
    await page.fill("#f-name", "王小明")
    await page.fill("#f-id-number", ID_FIRST17 + id_card_check_char(ID_FIRST17))
    await page.fill("#f-email", "xiaoming@example.com")
    await page.check("input[name=method][value=face]")
    await page.check("input[name=notice_personal_info]")
    await page.check("input[name=notice_biometric]")
    await shot(page, "identity-form")
    await page.click("text=提交认证")
    await page.wait_for_url(f"{provider}/dev/identity/face/**", timeout=10_000)
    await page.wait_for_selector("text=开始检测")
    await shot(page, "provider-page-on-another-origin")

    await page.click("text=开始检测")
    await page.wait_for_url(f"{url}/identity")
    await page.wait_for_selector(".badge-ok")
    body = await page.inner_text("body")
    assert "实名认证已通过" in body and "人脸识别" in body
    await shot(page, "verified")
    assert refused == []
    await context.close()
