"""TencentFaceIdVerifier over a real HTTP round trip to a local server playing FaceID.

The fake checks the TC3-HMAC-SHA256 signature with the same secret, so a request that
Tencent would reject is rejected here too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from core.adapters.identity_tencent import TencentFaceIdVerifier
from core.adapters.tencent_cloud import tc3_headers
from core.config import IdentityConfig
from core.errors import ProviderUnavailable

SECRET_ID = "AKIDtest"
SECRET_KEY = "test-secret"
RULE_ID = "7"


class FakeFaceId:
    """Answers like faceid.tencentcloudapi.com for the four actions the adapter uses."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.phone_result = "0"
        self.bank_result = "0"
        self.detect_text: dict[str, Any] | None = {"ErrCode": 0, "ErrMsg": "成功"}
        self.error: tuple[str, str] | None = None

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.text()
        action = request.headers["X-TC-Action"]
        expected = tc3_headers(
            secret_id=SECRET_ID, secret_key=SECRET_KEY, service="faceid",
            host=request.headers["Host"], action=action,
            version=request.headers["X-TC-Version"], region=request.headers["X-TC-Region"],
            payload=payload, timestamp=int(request.headers["X-TC-Timestamp"]),
        )
        if request.headers["Authorization"] != expected["Authorization"]:
            return self._error("AuthFailure.SignatureFailure", "签名错误")
        assert request.headers["X-TC-Version"] == "2018-03-01"
        params = json.loads(payload)
        self.calls.append((action, params))
        if self.error:
            return self._error(*self.error)
        body: dict[str, Any]
        if action == "PhoneVerification":
            body = {"Result": self.phone_result, "Description": "x", "Isp": "移动"}
        elif action == "BankCard4EVerification":
            body = {"Result": self.bank_result, "Description": "x"}
        elif action == "DetectAuth":
            body = {"Url": "https://faceid.example/h5?token=BT-1", "BizToken": "BT-1"}
        elif action == "GetDetectInfoEnhanced":
            body = {"Text": self.detect_text}
        else:
            return self._error("InvalidAction", action)
        return web.json_response({"Response": {**body, "RequestId": "req-1"}})

    @staticmethod
    def _error(code: str, message: str) -> web.Response:
        return web.json_response(
            {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "req-e"}}
        )


@pytest.fixture
async def faceid(aiohttp_server) -> tuple[FakeFaceId, TencentFaceIdVerifier]:
    fake = FakeFaceId()
    app = web.Application()
    app.router.add_post("/", fake.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    config = IdentityConfig(
        provider="tencent", secret_id=SECRET_ID, secret_key=SECRET_KEY,
        endpoint=f"http://127.0.0.1:{server.port}", face_rule_id=RULE_ID,
    )
    return fake, TencentFaceIdVerifier(config)


ID = "11010119900307123X"


async def test_carrier3_sends_the_documented_fields_and_maps_0_to_verified(faceid) -> None:
    fake, verifier = faceid
    result = await verifier.carrier3("王小明", ID, "13912345678")
    assert result.state == "verified" and result.code == "tc:0"
    assert result.provider_ref == "req-1"
    assert fake.calls == [("PhoneVerification",
                           {"IdCard": ID, "Name": "王小明", "Phone": "13912345678"})]


@pytest.mark.parametrize("code", ["-4", "-9", "-11", "-99"])
async def test_carrier3_non_zero_results_fail(faceid, code: str) -> None:
    fake, verifier = faceid
    fake.phone_result = code
    result = await verifier.carrier3("王小明", ID, "13912345678")
    assert result.state == "failed" and result.code == f"tc:{code}"
    assert result.message


async def test_bank4_sends_card_and_cert_type(faceid) -> None:
    fake, verifier = faceid
    assert (await verifier.bank4("王小明", ID, "13912345678", "6222020200001234")).state \
        == "verified"
    action, params = fake.calls[0]
    assert action == "BankCard4EVerification"
    assert params == {"Name": "王小明", "BankCard": "6222020200001234",
                      "Phone": "13912345678", "IdCard": ID, "CertType": 0}


async def test_bank4_mismatch_fails(faceid) -> None:
    fake, verifier = faceid
    fake.bank_result = "-1"
    result = await verifier.bank4("王小明", ID, "13912345678", "6222020200001234")
    assert result.state == "failed" and "不一致" in (result.message or "")


async def test_face_starts_with_detect_auth_and_returns_url_and_biz_token(faceid) -> None:
    fake, verifier = faceid
    session = await verifier.start_face("王小明", ID, "https://x.example/identity/face/return?ref=a")
    assert session.provider_ref == "BT-1"
    assert session.redirect_url == "https://faceid.example/h5?token=BT-1"
    assert fake.calls == [("DetectAuth", {
        "RuleId": RULE_ID, "IdCard": ID, "Name": "王小明",
        "RedirectUrl": "https://x.example/identity/face/return?ref=a",
    })]


async def test_face_result_success_unfinished_and_failure(faceid) -> None:
    fake, verifier = faceid
    assert (await verifier.check_result("face", "BT-1")).state == "verified"
    assert fake.calls[-1] == ("GetDetectInfoEnhanced",
                              {"BizToken": "BT-1", "RuleId": RULE_ID, "InfoType": "1"})
    fake.detect_text = {"ErrCode": None, "ErrMsg": None}
    assert (await verifier.face_result("BT-1")).state == "pending"
    fake.detect_text = None
    assert (await verifier.face_result("BT-1")).state == "pending"
    fake.detect_text = {"ErrCode": 2004, "ErrMsg": "活体检测未通过"}
    failed = await verifier.face_result("BT-1")
    assert failed.state == "failed" and failed.code == "tc:2004"
    assert failed.message == "活体检测未通过"


async def test_expired_biz_token_fails_the_face_check(faceid) -> None:
    fake, verifier = faceid
    fake.error = ("InvalidParameterValue.BizTokenExpired", "BizToken过期")
    result = await verifier.face_result("BT-1")
    assert result.state == "failed" and result.code == "InvalidParameterValue.BizTokenExpired"


async def test_account_errors_are_provider_unavailable_not_a_verdict(faceid) -> None:
    fake, verifier = faceid
    fake.error = ("FailedOperation.UnOpenError", "服务未开通")
    with pytest.raises(ProviderUnavailable):
        await verifier.carrier3("王小明", ID, "13912345678")
    with pytest.raises(ProviderUnavailable):
        await verifier.start_face("王小明", ID, "https://x.example/r")


async def test_a_wrong_secret_is_rejected_by_the_signature_check(faceid) -> None:
    fake, verifier = faceid
    wrong = TencentFaceIdVerifier(
        IdentityConfig(secret_id=SECRET_ID, secret_key="wrong", endpoint=verifier.config.endpoint,
                       face_rule_id=RULE_ID)
    )
    with pytest.raises(ProviderUnavailable):
        await wrong.carrier3("王小明", ID, "13912345678")
    assert fake.calls == []


async def test_unreachable_endpoint_is_provider_unavailable() -> None:
    verifier = TencentFaceIdVerifier(
        IdentityConfig(secret_id=SECRET_ID, secret_key=SECRET_KEY,
                       endpoint="http://127.0.0.1:9", face_rule_id=RULE_ID),
        timeout_seconds=2,
    )
    with pytest.raises(ProviderUnavailable):
        await verifier.carrier3("王小明", ID, "13912345678")


async def test_missing_credentials_are_provider_unavailable() -> None:
    verifier = TencentFaceIdVerifier(IdentityConfig(provider="tencent"))
    with pytest.raises(ProviderUnavailable) as err:
        await verifier.carrier3("王小明", ID, "13912345678")
    assert err.value.code == "provider_not_configured"
