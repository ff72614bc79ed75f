"""Employee account pages through the real app: forms, CSRF, redirects, no-JS flows."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from core.validators import safe_next
from storage.models import AgreementAcceptance, OutboxMessage, SmsCode, User
from tests.factories import (
    DEFAULT_PASSWORD,
    last_code,
    make_user,
    next_phone,
    solved_captcha,
    user_by_phone,
)

NEW_PASSWORD = "N3w-Passw0rd"


def csrf_of(html: str) -> str:
    match = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert match, "form without _csrf field"
    return match.group(1)


async def _page(client, path: str) -> tuple[str, str]:
    response = await client.get(path)
    assert response.status == 200
    html = await response.text()
    return html, csrf_of(html)


async def _count(deps, model) -> int:
    async with deps.db.sessions() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def _register(client, deps, outbox, phone: str) -> None:
    _, token = await _page(client, "/register")
    sent = await client.post("/register", data={"_csrf": token, "action": "send_code",
                                                "phone": phone})
    assert "验证码已发送" in await sent.text()
    code = await last_code(deps, outbox, phone)
    response = await client.post("/register", allow_redirects=False, data={
        "_csrf": token, "action": "submit", "phone": phone, "code": code,
        "password": DEFAULT_PASSWORD, "password_confirm": DEFAULT_PASSWORD, "agree": "1",
    })
    assert response.status == 303, await response.text()


async def _login(client, deps, user, next_path: str = "") -> None:
    _, token = await _page(client, "/login")
    captcha_id, answer = await solved_captcha(deps)
    data = {"_csrf": token, "tab": "password", "phone": user.phone,
            "password": DEFAULT_PASSWORD, "captcha_id": captcha_id, "captcha_answer": answer}
    if next_path:
        data["next"] = next_path
    response = await client.post("/login", data=data, allow_redirects=False)
    assert response.status == 303, await response.text()


# ------------------------------------------------------------------ pages


async def test_welcome_page_for_visitors(client) -> None:
    html = await (await client.get("/")).text()
    assert "/register" in html and "/login" in html


@pytest.mark.parametrize("name", ["service", "privacy", "certificate"])
async def test_agreement_pages_show_their_version(client, name) -> None:
    response = await client.get(f"/agreements/{name}")
    assert response.status == 200 and "版本：2026-11" in await response.text()


async def test_unknown_agreement_is_404(client) -> None:
    assert (await client.get("/agreements/nope")).status == 404


async def test_login_page_has_a_captcha_image_and_two_tabs(client) -> None:
    html, _ = await _page(client, "/login")
    assert 'src="data:image/png;base64,' in html and 'name="captcha_id"' in html
    assert "/login?tab=sms" in html


# ------------------------------------------------------------------ register


async def test_register_without_js_then_home_asks_for_identity_check(
    client, deps, outbox
) -> None:
    phone = next_phone()
    await _register(client, deps, outbox, phone)
    html = await (await client.get("/")).text()
    assert "去实名认证" in html and 'href="/identity"' in html
    assert phone[:3] + "****" + phone[-4:] in html
    assert await _count(deps, AgreementAcceptance) == 3


async def test_send_code_keeps_the_input_and_never_the_password(client, deps) -> None:
    _, token = await _page(client, "/register")
    phone = next_phone()
    response = await client.post("/register", data={
        "_csrf": token, "action": "send_code", "phone": phone, "password": "Secret-Pass1",
        "agree": "1",
    })
    html = await response.text()
    assert f'value="{phone}"' in html and "Secret-Pass1" not in html
    assert 'data-wait="60"' in html


async def test_second_send_within_a_minute_is_429_with_retry_after(client, clock) -> None:
    _, token = await _page(client, "/register")
    phone = next_phone()
    await client.post("/register", data={"_csrf": token, "action": "send_code", "phone": phone})
    clock.advance(seconds=15)
    response = await client.post("/register", data={"_csrf": token, "action": "send_code",
                                                     "phone": phone})
    assert response.status == 429 and response.headers["Retry-After"] == "45"
    html = await response.text()
    assert "过于频繁" in html and f'value="{phone}"' in html


async def test_register_with_bad_input_rerenders_with_message_and_no_rows(
    client, deps, outbox
) -> None:
    _, token = await _page(client, "/register")
    phone = next_phone()
    response = await client.post("/register", data={
        "_csrf": token, "action": "submit", "phone": phone, "code": "123456",
        "password": "weakpass", "password_confirm": "weakpass", "agree": "1",
    })
    html = await response.text()
    assert response.status == 400 and "至少三种" in html
    assert f'value="{phone}"' in html and "weakpass" not in html
    assert await _count(deps, User) == 0


async def test_register_without_agreement_is_refused(client, deps, outbox) -> None:
    _, token = await _page(client, "/register")
    phone = next_phone()
    response = await client.post("/register", data={
        "_csrf": token, "action": "submit", "phone": phone, "code": "123456",
        "password": DEFAULT_PASSWORD, "password_confirm": DEFAULT_PASSWORD,
    })
    assert response.status == 400 and "请阅读并同意" in await response.text()
    assert await _count(deps, User) == 0


async def test_form_without_csrf_is_refused_and_writes_nothing(client, deps) -> None:
    await _page(client, "/register")
    response = await client.post("/register", data={"action": "send_code",
                                                    "phone": next_phone()})
    assert response.status == 400 and "页面已过期" in await response.text()
    response = await client.post("/register", data={"_csrf": "forged", "action": "send_code",
                                                    "phone": next_phone()})
    assert response.status == 400
    assert await _count(deps, SmsCode) == 0 and await _count(deps, OutboxMessage) == 0


# ------------------------------------------------------------------ login


async def test_password_login_redirects_to_a_safe_next(client, deps) -> None:
    user = await make_user(deps)
    _, token = await _page(client, "/login?next=/me")
    captcha_id, answer = await solved_captcha(deps)
    response = await client.post("/login", allow_redirects=False, data={
        "_csrf": token, "tab": "password", "phone": user.phone, "password": DEFAULT_PASSWORD,
        "captcha_id": captcha_id, "captcha_answer": answer, "next": "/me",
    })
    assert response.status == 303 and response.headers["Location"] == "/me"
    cookie = response.cookies["ls_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


async def test_login_ignores_an_offsite_next(client, deps) -> None:
    user = await make_user(deps)
    _, token = await _page(client, "/login")
    captcha_id, answer = await solved_captcha(deps)
    response = await client.post("/login", allow_redirects=False, data={
        "_csrf": token, "tab": "password", "phone": user.phone, "password": DEFAULT_PASSWORD,
        "captcha_id": captcha_id, "captcha_answer": answer, "next": "//evil.example/x",
    })
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("/me", "/me"), ("/sign/abc?x=1", "/sign/abc?x=1"), ("//evil.com", "/"),
     ("https://evil.com/", "/"), ("/\\evil.com", "/"), ("me", "/"), ("", "/"),
     ("/ok\r\nSet-Cookie: x", "/")],
)
def test_safe_next(value, expected) -> None:
    assert safe_next(value) == expected


async def test_wrong_password_rerenders_with_a_fresh_captcha(client, deps) -> None:
    user = await make_user(deps)
    _, token = await _page(client, "/login")
    captcha_id, answer = await solved_captcha(deps)
    response = await client.post("/login", data={
        "_csrf": token, "tab": "password", "phone": user.phone, "password": "Wrong-Passw0rd",
        "captcha_id": captcha_id, "captcha_answer": answer,
    })
    html = await response.text()
    assert response.status == 400 and "手机号或密码错误" in html
    assert "Wrong-Passw0rd" not in html and f'value="{user.phone}"' in html
    assert captcha_id not in html and 'name="captcha_id"' in html


async def test_lockout_page_is_423_with_retry_after(client, deps) -> None:
    user = await make_user(deps)
    _, token = await _page(client, "/login")
    for _ in range(5):
        captcha_id, answer = await solved_captcha(deps)
        response = await client.post("/login", data={
            "_csrf": token, "tab": "password", "phone": user.phone, "password": "Wrong-Pass1",
            "captcha_id": captcha_id, "captcha_answer": answer,
        })
    assert response.status == 423 and "锁定" in await response.text()
    assert response.headers["Retry-After"] == "900"


async def test_sms_login_without_js(client, deps, outbox) -> None:
    user = await make_user(deps)
    _, token = await _page(client, "/login?tab=sms")
    sent = await client.post("/login", data={"_csrf": token, "tab": "sms",
                                             "action": "send_code", "phone": user.phone})
    assert "验证码已发送" in await sent.text()
    code = await last_code(deps, outbox, user.phone)
    response = await client.post("/login", allow_redirects=False, data={
        "_csrf": token, "tab": "sms", "action": "submit", "phone": user.phone, "code": code,
    })
    assert response.status == 303
    assert "/me" in await (await client.get("/")).text()


async def test_logout_ends_the_session(client, deps) -> None:
    user = await make_user(deps)
    await _login(client, deps, user)
    _, token = await _page(client, "/me")
    response = await client.post("/logout", data={"_csrf": token}, allow_redirects=False)
    assert response.status == 303
    response = await client.get("/me", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login?next=")


# ------------------------------------------------------------------ home and profile


async def test_home_greets_the_verified_user_by_their_own_full_name(client, deps) -> None:
    user = await make_user(deps, verified=True, real_name="王小明")
    await _login(client, deps, user)
    html = await (await client.get("/")).text()
    # Their own page: the full name, never "您好，王**" (masks are for other people).
    assert "已实名" in html and "您好，王小明" in html and "王**" not in html
    assert "去实名认证" not in html
    assert 'id="contracts-todo"' in html


async def test_profile_masks_the_phone_and_saves_the_email(client, deps) -> None:
    user = await make_user(deps)
    await _login(client, deps, user)
    html, token = await _page(client, "/me")
    assert user.phone not in html and user.phone[-4:] in html
    response = await client.post("/me/email", data={"_csrf": token, "email": "a@b.cn"})
    assert "邮箱已保存" in await response.text()
    response = await client.post("/me/email", data={"_csrf": token, "email": "bad"})
    assert response.status == 400 and 'value="bad"' in await response.text()


async def test_change_password_page(client, deps) -> None:
    user = await make_user(deps)
    await _login(client, deps, user)
    _, token = await _page(client, "/me/password")
    response = await client.post("/me/password", data={
        "_csrf": token, "old_password": DEFAULT_PASSWORD, "password": NEW_PASSWORD,
        "password_confirm": "Mismatch-Passw0rd",
    })
    assert response.status == 400 and "不一致" in await response.text()
    response = await client.post("/me/password", data={
        "_csrf": token, "old_password": DEFAULT_PASSWORD, "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    })
    assert "密码已修改" in await response.text()


async def test_change_phone_page_without_js(client, deps, outbox) -> None:
    user = await make_user(deps)
    await _login(client, deps, user)
    _, token = await _page(client, "/me/phone")
    new_phone = next_phone()
    await client.post("/me/phone", data={"_csrf": token, "action": "send_old"})
    old_code = await last_code(deps, outbox, user.phone)
    sent = await client.post("/me/phone", data={"_csrf": token, "action": "send_new",
                                                "new_phone": new_phone, "old_code": old_code})
    html = await sent.text()
    assert "验证码已发送" in html and f'value="{old_code}"' in html
    new_code = await last_code(deps, outbox, new_phone)
    response = await client.post("/me/phone", data={
        "_csrf": token, "action": "submit", "old_code": old_code, "new_phone": new_phone,
        "new_code": new_code,
    })
    assert "手机号已更换" in await response.text()
    assert (await user_by_phone(deps, new_phone)).id == user.id


async def test_forgot_password_without_js(client, deps, outbox) -> None:
    user = await make_user(deps)
    _, token = await _page(client, "/password/forgot")
    await client.post("/password/forgot", data={"_csrf": token, "action": "send_code",
                                                 "phone": user.phone})
    code = await last_code(deps, outbox, user.phone)
    response = await client.post("/password/forgot", allow_redirects=False, data={
        "_csrf": token, "action": "submit", "phone": user.phone, "code": code,
        "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD,
    })
    assert response.status == 303 and response.headers["Location"] == "/login?reset=1"
    assert "密码已重置" in await (await client.get("/login?reset=1")).text()


async def test_account_script_is_served(client) -> None:
    response = await client.get("/static/accounts.js")
    assert response.status == 200 and "sms-codes" in await response.text()
