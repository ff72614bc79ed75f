"""The accounts JSON API through the real app: bodies, errors, limits, bearer sessions."""

from __future__ import annotations

import base64

from sqlalchemy import func, select

from handlers.app import init_app
from storage.models import CaptchaChallenge, SmsCode, User
from tests.factories import (
    DEFAULT_PASSWORD,
    last_code,
    login_as,
    make_user,
    next_phone,
    solved_captcha,
)

API = "/api/v1"
NEW_PASSWORD = "N3w-Passw0rd"


async def _count(deps, model) -> int:
    async with deps.db.sessions() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def _error(response, status: int) -> dict:
    assert response.status == status, await response.text()
    return (await response.json())["error"]


async def test_register_and_use_the_token(client, deps, outbox) -> None:
    phone = next_phone()
    sent = await client.post(f"{API}/auth/sms-codes", json={"purpose": "register",
                                                            "phone": phone})
    assert sent.status == 200
    assert (await sent.json())["phone_masked"] == phone[:3] + "****" + phone[-4:]
    code = await last_code(deps, outbox, phone)
    response = await client.post(f"{API}/auth/register", json={
        "phone": phone, "code": code, "password": DEFAULT_PASSWORD,
        "password_confirm": DEFAULT_PASSWORD, "agreements": ["service", "privacy", "certificate"],
    })
    assert response.status == 201
    body = await response.json()
    assert body["user"]["identity_state"] == "unverified" and body["csrf_token"]
    me = await client.get(f"{API}/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert (await me.json())["phone_masked"] == body["user"]["phone_masked"]


async def test_register_without_all_agreements_is_400_and_writes_nothing(client, deps) -> None:
    error = await _error(await client.post(f"{API}/auth/register", json={
        "phone": next_phone(), "code": "123456", "password": DEFAULT_PASSWORD,
        "password_confirm": DEFAULT_PASSWORD, "agreements": ["service"],
    }), 400)
    assert error["code"] == "agreements_required"
    assert await _count(deps, User) == 0


async def test_register_with_weak_password_is_400_weak_password(client, deps) -> None:
    error = await _error(await client.post(f"{API}/auth/register", json={
        "phone": next_phone(), "code": "123456", "password": "short",
        "password_confirm": "short", "agreements": ["service", "privacy", "certificate"],
    }), 400)
    assert error["code"] == "weak_password" and error["field"] == "password"


async def test_sms_code_rate_limit_is_429_with_retry_after(client, clock) -> None:
    phone = next_phone()
    body = {"purpose": "register", "phone": phone}
    assert (await client.post(f"{API}/auth/sms-codes", json=body)).status == 200
    clock.advance(seconds=30)
    response = await client.post(f"{API}/auth/sms-codes", json=body)
    error = await _error(response, 429)
    assert response.headers["Retry-After"] == "30"
    assert error["code"] == "rate_limited" and error["retry_after"] == 30
    clock.advance(seconds=31)
    assert (await client.post(f"{API}/auth/sms-codes", json=body)).status == 200


async def test_per_ip_sms_limit_is_429(client, deps, config) -> None:
    deps.config = config.replace(sms={"per_ip_hourly": 2})
    for _ in range(2):
        response = await client.post(f"{API}/auth/sms-codes",
                                     json={"purpose": "register", "phone": next_phone()})
        assert response.status == 200
    response = await client.post(f"{API}/auth/sms-codes",
                                 json={"purpose": "register", "phone": next_phone()})
    assert response.status == 429 and int(response.headers["Retry-After"]) > 0
    assert await _count(deps, SmsCode) == 2


async def test_captcha_is_a_png_data_url(client, deps) -> None:
    body = await (await client.get(f"{API}/auth/captcha")).json()
    prefix = "data:image/png;base64,"
    assert body["image"].startswith(prefix)
    assert base64.b64decode(body["image"][len(prefix):]).startswith(b"\x89PNG")
    assert await _count(deps, CaptchaChallenge) == 1


async def test_password_login_returns_token_and_user(client, deps) -> None:
    user = await make_user(deps)
    captcha_id, answer = await solved_captcha(deps)
    response = await client.post(f"{API}/auth/login/password", json={
        "phone": user.phone, "password": DEFAULT_PASSWORD, "captcha_id": captcha_id,
        "captcha_answer": answer.lower(),
    })
    body = await response.json()
    assert response.status == 200 and body["user"]["id"] == user.id and body["token"]


async def test_password_login_lockout_is_423(client, deps) -> None:
    user = await make_user(deps)
    statuses = []
    for _ in range(6):
        captcha_id, answer = await solved_captcha(deps)
        response = await client.post(f"{API}/auth/login/password", json={
            "phone": user.phone, "password": "Wrong-Passw0rd", "captcha_id": captcha_id,
            "captcha_answer": answer,
        })
        statuses.append(response.status)
    assert statuses == [400, 400, 400, 400, 423, 423]
    assert int(response.headers["Retry-After"]) > 0


async def test_reused_captcha_is_refused(client, deps) -> None:
    user = await make_user(deps)
    captcha_id, answer = await solved_captcha(deps)
    body = {"phone": user.phone, "password": DEFAULT_PASSWORD, "captcha_id": captcha_id,
            "captcha_answer": answer}
    assert (await client.post(f"{API}/auth/login/password", json=body)).status == 200
    error = await _error(await client.post(f"{API}/auth/login/password", json=body), 400)
    assert error["code"] == "captcha_expired"


async def test_sms_login_and_wrong_code(client, deps, outbox) -> None:
    user = await make_user(deps)
    await client.post(f"{API}/auth/sms-codes", json={"purpose": "login", "phone": user.phone})
    code = await last_code(deps, outbox, user.phone)
    wrong = "000000" if code != "000000" else "111111"
    error = await _error(await client.post(f"{API}/auth/login/sms",
                                           json={"phone": user.phone, "code": wrong}), 400)
    assert error["code"] == "invalid_code"
    response = await client.post(f"{API}/auth/login/sms", json={"phone": user.phone,
                                                                "code": code})
    assert response.status == 200
    error = await _error(await client.post(f"{API}/auth/login/sms",
                                           json={"phone": user.phone, "code": code}), 400)
    assert error["code"] == "code_expired"


async def test_password_reset(client, deps, outbox) -> None:
    user = await make_user(deps)
    await client.post(f"{API}/auth/sms-codes", json={"purpose": "reset_password",
                                                     "phone": user.phone})
    code = await last_code(deps, outbox, user.phone)
    response = await client.post(f"{API}/auth/password/reset", json={
        "phone": user.phone, "code": code, "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    })
    assert response.status == 200 and (await response.json()) == {"ok": True}


async def test_me_needs_a_session(client) -> None:
    error = await _error(await client.get(f"{API}/me"), 401)
    assert error["code"] == "unauthenticated"


async def test_patch_me_email(client, deps) -> None:
    logged = await login_as(deps, await make_user(deps))
    response = await client.patch(f"{API}/me", json={"email": "Li@Example.com"},
                                  headers=logged.headers)
    assert (await response.json())["email"] == "li@example.com"
    error = await _error(await client.patch(f"{API}/me", json={"email": "x" * 201},
                                            headers=logged.headers), 400)
    assert error["code"] == "invalid_input"


async def test_change_password_and_logout(client, deps) -> None:
    logged = await login_as(deps, await make_user(deps))
    response = await client.post(f"{API}/me/password", headers=logged.headers, json={
        "old_password": DEFAULT_PASSWORD, "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    })
    assert response.status == 200
    assert (await client.post(f"{API}/auth/logout", headers=logged.headers)).status == 200
    assert (await client.get(f"{API}/me", headers=logged.headers)).status == 401


async def test_change_phone(client, deps, outbox) -> None:
    user = await make_user(deps)
    logged = await login_as(deps, user)
    new_phone = next_phone()
    await client.post(f"{API}/auth/sms-codes", json={"purpose": "change_phone_old"},
                      headers=logged.headers)
    old_code = await last_code(deps, outbox, user.phone)
    await client.post(f"{API}/auth/sms-codes", json={"purpose": "change_phone_new",
                                                     "phone": new_phone})
    new_code = await last_code(deps, outbox, new_phone)
    response = await client.post(f"{API}/me/phone", headers=logged.headers, json={
        "old_code": old_code, "new_phone": new_phone, "new_code": new_code,
    })
    assert (await response.json())["phone_masked"] == new_phone[:3] + "****" + new_phone[-4:]


async def test_malformed_json_is_400_invalid_json(client, deps) -> None:
    response = await client.post(f"{API}/auth/register", data=b"{not json",
                                 headers={"Content-Type": "application/json"})
    assert (await _error(response, 400))["code"] == "invalid_json"
    assert await _count(deps, User) == 0


async def test_json_that_is_not_an_object_is_400(client) -> None:
    response = await client.post(f"{API}/auth/login/sms", json=["13800000001"])
    assert (await _error(response, 400))["code"] == "invalid_json"


async def test_oversized_body_is_413_json(aiohttp_client, deps, config) -> None:
    deps.config = config.replace(server={"max_body_bytes": 4096})
    small = await aiohttp_client(init_app(deps.config, deps=deps, run_workers=False))
    response = await small.post(f"{API}/auth/register", data=b"x" * 5000,
                                headers={"Content-Type": "application/json"})
    assert (await _error(response, 413))["code"] == "payload_too_large"
    assert await _count(deps, User) == 0


async def test_overlong_fields_and_unknown_fields_are_400(client) -> None:
    response = await client.post(f"{API}/auth/login/sms",
                                 json={"phone": "1" * 200, "code": "123456"})
    assert (await _error(response, 400))["field"] == "phone"
    response = await client.post(f"{API}/auth/login/sms",
                                 json={"phone": "13800000001", "code": "123456", "x": 1})
    assert response.status == 400


async def test_cookie_api_call_without_csrf_header_is_refused(client, deps) -> None:
    logged = await login_as(deps, await make_user(deps))
    client.session.cookie_jar.update_cookies({"ls_session": logged.session.token})
    response = await client.patch(f"{API}/me", json={"email": "a@b.cn"})
    assert (await _error(response, 400))["code"] == "csrf_failed"
