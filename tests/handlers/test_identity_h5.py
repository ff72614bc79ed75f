"""The real-name H5 pages through the real app: form, refusals, face redirect-and-return."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from core.context import Deps
from storage.models import IdentityVerification
from tests.identity_support import bad_check_digit, csrf_from, id_number, login, make_user

PHONE = "13912345678"


async def _form(client: Any) -> str:
    resp = await client.get("/identity")
    assert resp.status == 200
    return await resp.text()


def _fields(csrf: str, **overrides: str) -> dict[str, str]:
    data = {
        "_csrf": csrf, "name": "王小明", "id_type": "id_card", "id_number": id_number(),
        "email": "wang@example.com", "phone": PHONE, "method": "carrier3",
        "notice_personal_info": "1", "notice_biometric": "1",
    }
    data.update(overrides)
    return data


async def _logged_in(deps: Deps, client: Any) -> str:
    uid = await make_user(deps, phone=PHONE)
    await login(deps, client, uid)
    return uid


async def test_anonymous_visitor_is_sent_to_login(client) -> None:
    resp = await client.get("/identity", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/login?next=/identity"


async def test_form_prefills_the_account_phone_and_links_both_notices(deps, client) -> None:
    await _logged_in(deps, client)
    html = await _form(client)
    assert f'value="{PHONE}"' in html
    assert "/agreements/personal-info" in html and "/agreements/biometric" in html
    for method in ("face", "carrier3", "bank4"):
        assert f'value="{method}"' in html


async def test_notice_pages_show_their_text(client) -> None:
    for path, words in (("/agreements/personal-info", "个人信息处理告知书"),
                        ("/agreements/biometric", "人脸信息处理告知书")):
        resp = await client.get(path)
        assert resp.status == 200
        assert words in await resp.text()


async def test_carrier3_pass_shows_verified_with_own_name_and_masked_id(deps, client) -> None:
    await _logged_in(deps, client)
    number = id_number()
    csrf = csrf_from(await _form(client))
    resp = await client.post("/identity", data=_fields(csrf, id_number=number),
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/identity"
    html = await (await client.get("/identity")).text()
    assert "已通过" in html
    assert number[:6] + "********" + number[-4:] in html
    # The person's own page: their full name; the ID number stays masked.
    assert number not in html and "王小明" in html and "王**" not in html


async def test_failure_shows_reason_and_retry_form(deps, client) -> None:
    await _logged_in(deps, client)
    csrf = csrf_from(await _form(client))
    await client.post("/identity", data=_fields(csrf, phone="13912340000"))
    html = await (await client.get("/identity")).text()
    assert "未通过" in html and "手机号不是本人实名登记" in html
    assert 'href="/identity?retry=1"' in html
    retry = await (await client.get("/identity?retry=1")).text()
    assert 'action="/identity"' in retry and "上次认证未通过" in retry


async def test_pending_shows_refresh_button_and_refresh_keeps_pending(deps, client) -> None:
    await _logged_in(deps, client)
    csrf = csrf_from(await _form(client))
    await client.post("/identity", data=_fields(csrf, id_number=id_number("998")))
    html = await (await client.get("/identity")).text()
    assert "认证中" in html and 'action="/identity/refresh"' in html
    resp = await client.post("/identity/refresh", data={"_csrf": csrf_from(html)},
                             allow_redirects=False)
    assert resp.status == 303
    assert "认证中" in await (await client.get("/identity")).text()


async def test_bad_check_digit_re_renders_the_form_without_echoing_the_number(
    deps, client
) -> None:
    await _logged_in(deps, client)
    csrf = csrf_from(await _form(client))
    wrong = bad_check_digit(id_number())
    resp = await client.post("/identity", data=_fields(csrf, id_number=wrong))
    assert resp.status == 400
    html = await resp.text()
    assert "身份证号校验位不正确" in html
    assert wrong not in html
    assert 'value="wang@example.com"' in html  # the rest of the input is kept
    async with deps.db.sessions() as session:
        assert (await session.execute(select(IdentityVerification))).first() is None


async def test_missing_notice_is_refused(deps, client) -> None:
    await _logged_in(deps, client)
    csrf = csrf_from(await _form(client))
    data = _fields(csrf, method="face")
    del data["notice_biometric"]
    resp = await client.post("/identity", data=data)
    assert resp.status == 400
    assert "人脸信息处理告知书" in await resp.text()


async def test_post_without_csrf_is_refused(deps, client) -> None:
    await _logged_in(deps, client)
    await _form(client)
    data = _fields("")
    del data["_csrf"]
    resp = await client.post("/identity", data=data)
    assert resp.status == 400
    assert "页面已过期" in await resp.text()
    async with deps.db.sessions() as session:
        assert (await session.execute(select(IdentityVerification))).first() is None


async def test_face_redirects_to_the_provider_and_returns_verified(deps, client) -> None:
    await _logged_in(deps, client)
    csrf = csrf_from(await _form(client))
    resp = await client.post("/identity", data=_fields(csrf, method="face"),
                             allow_redirects=False)
    # Not a redirect (CSP form-action 'self' would stop one to the provider's origin):
    # a page whose script navigates to the provider, with the link as a fallback.
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    html = await resp.text()
    assert "provider-go.js" in html
    start = html.index('id="provider-go" href="') + len('id="provider-go" href="')
    provider = urlsplit(html[start:html.index('"', start)].replace("&amp;", "&"))
    assert provider.path.startswith("/dev/identity/face/dev-face-pass-")

    # The dev liveness page: its "开始检测" button leads back to our return URL.
    page = await client.get(f"{provider.path}?{provider.query}")
    assert page.status == 200
    html = await page.text()
    assert "开始检测" in html
    start = html.index('id="start-face" href="') + len('id="start-face" href="')
    return_url = html[start:html.index('"', start)].replace("&amp;", "&")
    base_url = deps.config.server.base_url.rstrip("/")
    assert return_url.startswith(f"{base_url}/identity/face/return?ref=")

    back = await client.get(return_url.removeprefix(base_url), allow_redirects=False)
    assert back.status == 303 and back.headers["Location"] == "/identity"
    assert "已通过" in await (await client.get("/identity")).text()


async def test_face_return_when_logged_out_goes_to_login_and_back(client) -> None:
    resp = await client.get("/identity/face/return?ref=abc", allow_redirects=False)
    assert resp.status == 303
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/identity/face/return?ref=abc"]


async def test_face_return_with_unknown_ref_is_a_friendly_404(deps, client) -> None:
    await _logged_in(deps, client)
    resp = await client.get("/identity/face/return?ref=nope")
    assert resp.status == 404
    assert "认证记录不存在" in await resp.text()


async def test_dev_face_page_refuses_foreign_return_urls(client) -> None:
    resp = await client.get("/dev/identity/face/x?return=https://evil.example/identity/face/return")
    assert resp.status == 400
    resp = await client.get("/dev/identity/face/x?return=/somewhere/else")
    assert resp.status == 400
    resp = await client.get("/dev/identity/face/x?return=/console/attempt/a/face/../../x")
    assert resp.status == 400


async def test_rate_limit_shows_message_and_retry_after(deps, client) -> None:
    await _logged_in(deps, client)
    csrf = csrf_from(await _form(client))
    for _ in range(10):
        await client.post("/identity", data=_fields(csrf, phone="13912340000"))
    resp = await client.post("/identity", data=_fields(csrf, phone="13912340000"))
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert "次数已达上限" in await resp.text()


async def test_form_offers_only_the_types_the_provider_checks(deps, client) -> None:
    await _logged_in(deps, client)
    html = await _form(client)
    for value in ("id_card", "hmt_residence", "foreign_permanent"):
        assert f'<option value="{value}"' in html
    for value in ("hk_mo_permit", "tw_permit", "passport"):
        assert f'<option value="{value}"' not in html
    # The documents it cannot check are named, not silently missing.
    assert "港澳居民来往内地通行证、台湾居民来往大陆通行证、护照暂不支持在线实名认证" in html
    # Email is optional: no `required` on its input.
    email_input = html[html.index('id="f-email"'):].split(">", 1)[0]
    assert "required" not in email_input and "选填" in html


async def test_residence_permit_without_email_verifies(deps, client) -> None:
    await _logged_in(deps, client)
    csrf = csrf_from(await _form(client))
    number = id_number(region="820000")
    resp = await client.post("/identity", data=_fields(
        csrf, id_type="hmt_residence", id_number=number, email=""), allow_redirects=False)
    assert resp.status == 303
    html = await (await client.get("/identity")).text()
    assert "已通过" in html and "港澳台居民居住证" in html and number not in html


async def test_unsupported_type_is_refused_with_a_clear_message(deps, client) -> None:
    await _logged_in(deps, client)
    csrf = csrf_from(await _form(client))
    resp = await client.post("/identity", data=_fields(
        csrf, id_type="passport", id_number="E12345678"))
    html = await resp.text()
    assert resp.status == 400 and "护照暂不支持在线实名认证" in html
