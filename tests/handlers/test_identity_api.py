"""The real-name JSON API (bearer-token clients) through the real app."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core.context import Deps
from tests.identity_support import bad_check_digit, id_number, login, make_user

PHONE = "13912345678"


async def _bearer(deps: Deps, client: Any) -> dict[str, str]:
    uid = await make_user(deps, phone=PHONE)
    token = await login(deps, client, uid)
    client.session.cookie_jar.clear()  # a pure API client: no cookies, no CSRF
    return {"Authorization": f"Bearer {token}"}


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "method": "carrier3", "name": "王小明", "id_type": "id_card",
        "id_number": id_number(), "email": "wang@example.com", "phone": PHONE,
        "accept_personal_info_notice": True, "accept_biometric_notice": True,
    }
    body.update(overrides)
    return body


async def test_status_requires_authentication(client) -> None:
    resp = await client.get("/api/v1/identity")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthenticated"


async def test_status_of_a_new_user(deps, client) -> None:
    headers = await _bearer(deps, client)
    data = await (await client.get("/api/v1/identity", headers=headers)).json()
    assert data["state"] == "unverified" and data["can_start"] is True
    assert data["latest"] is None


async def test_carrier3_verifies_and_only_masked_values_come_back(deps, client) -> None:
    headers = await _bearer(deps, client)
    number = id_number()
    resp = await client.post("/api/v1/identity/verifications", json=_body(id_number=number),
                             headers=headers)
    assert resp.status == 201
    data = await resp.json()
    assert data["state"] == "verified" and data["redirect_url"] is None
    assert data["identity"]["id_number_masked"] == number[:6] + "********" + number[-4:]
    assert data["identity"]["real_name_masked"] == "王**"
    assert number not in await resp.text()
    status = await (await client.get("/api/v1/identity", headers=headers)).json()
    assert status["state"] == "verified" and status["latest"]["method"] == "carrier3"


async def test_face_flow_start_then_complete(deps, client) -> None:
    headers = await _bearer(deps, client)
    resp = await client.post("/api/v1/identity/verifications", json=_body(method="face"),
                             headers=headers)
    data = await resp.json()
    assert data["state"] == "pending"
    redirect = urlsplit(data["redirect_url"])
    assert redirect.path.startswith("/dev/identity/face/")
    return_url = urlsplit(parse_qs(redirect.query)["return"][0])
    ref = parse_qs(return_url.query)["ref"][0]
    assert ref == data["verification_id"]
    done = await client.post("/api/v1/identity/verifications/face/complete",
                             json={"ref": ref}, headers=headers)
    assert done.status == 200
    assert (await done.json())["state"] == "verified"


async def test_refresh_of_a_pending_check(deps, client) -> None:
    headers = await _bearer(deps, client)
    await client.post("/api/v1/identity/verifications", json=_body(id_number=id_number("998")),
                      headers=headers)
    resp = await client.post("/api/v1/identity/refresh", headers=headers)
    assert resp.status == 200
    data = await resp.json()
    assert data["state"] == "pending" and data["can_refresh"] is True


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"id_number": bad_check_digit(id_number())}, 400, "invalid_id_number"),
        ({"accept_personal_info_notice": False}, 400, "notice_required"),
        ({"method": "bank4"}, 400, "invalid_bank_card"),
        ({"method": "pigeon"}, 400, "invalid_input"),
        ({"name": "王" * 500}, 400, "invalid_input"),
    ],
)
async def test_bad_input_is_a_4xx_with_a_stable_code(deps, client, overrides: dict[str, Any],
                                                     status: int, code: str) -> None:
    headers = await _bearer(deps, client)
    resp = await client.post("/api/v1/identity/verifications", json=_body(**overrides),
                             headers=headers)
    assert resp.status == status
    error = (await resp.json())["error"]
    assert error["code"] == code and error["message"]
    state = (await (await client.get("/api/v1/identity", headers=headers)).json())["state"]
    assert state == "unverified"


async def test_malformed_json_is_refused(deps, client) -> None:
    headers = await _bearer(deps, client)
    resp = await client.post("/api/v1/identity/verifications", data=b"{not json",
                             headers={**headers, "Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_json"


async def test_id_number_of_another_account_is_a_409(deps, client) -> None:
    headers = await _bearer(deps, client)
    number = id_number()
    other = await make_user(deps, phone="13911110002")
    from core import identity
    from core.context import RequestMeta

    await identity.start_verification(
        deps, other, method="carrier3", name="王小明", id_type="id_card", id_number=number,
        email="o@example.com", phone="13911110002", notices_accepted={"personal_info"},
        meta=RequestMeta(),
    )
    resp = await client.post("/api/v1/identity/verifications", json=_body(id_number=number),
                             headers=headers)
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "id_number_in_use"


async def test_rate_limit_is_429_with_retry_after(deps, client) -> None:
    headers = await _bearer(deps, client)
    for _ in range(10):
        await client.post("/api/v1/identity/verifications", json=_body(phone="13912340000"),
                          headers=headers)
    resp = await client.post("/api/v1/identity/verifications", json=_body(phone="13912340000"),
                             headers=headers)
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert (await resp.json())["error"]["code"] == "rate_limited"


async def test_complete_with_unknown_ref_is_404(deps, client) -> None:
    headers = await _bearer(deps, client)
    resp = await client.post("/api/v1/identity/verifications/face/complete",
                             json={"ref": "nope"}, headers=headers)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "verification_not_found"
