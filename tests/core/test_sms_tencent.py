"""Tencent Cloud SMS adapter against a local stand-in for the provider (real HTTP, loopback)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from core.adapters.sms_tencent import TencentSmsError, TencentSmsSender
from core.adapters.tencent_cloud import tc3_headers
from core.config import SmsConfig
from core.outbox import PermanentFailure
from core.ports import SmsMessage

SECRET_ID = "AKIDtest"
SECRET_KEY = "test-secret"


class FakeTencent:
    """Records each request and answers with the next queued Response body."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append({"headers": dict(request.headers), "body": raw.decode(),
                              "path": request.path, "method": request.method})
        return web.json_response({"Response": self.responses.pop(0)})


@pytest.fixture
async def provider(aiohttp_server) -> tuple[FakeTencent, str]:
    fake = FakeTencent()
    app = web.Application()
    app.router.add_post("/", fake.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    return fake, f"http://127.0.0.1:{server.port}"


def _sender(endpoint: str) -> TencentSmsSender:
    return TencentSmsSender(SmsConfig(
        provider="tencent", secret_id=SECRET_ID, secret_key=SECRET_KEY, sdk_app_id="1400000001",
        sign_name="劳动签", region="ap-guangzhou", endpoint=endpoint, template_code="100001",
        template_notice="100002",
    ))


CODE = SmsMessage("13912345678", "code", {"code": "123456", "minutes": "5"}, "text")


def _ok(code: str = "Ok") -> dict[str, Any]:
    return {"SendStatusSet": [{"SerialNo": "2028:abc", "PhoneNumber": "+8613912345678",
                               "Fee": 1, "Code": code, "Message": "send success",
                               "IsoCode": "CN"}],
            "RequestId": "req-1"}


async def test_send_posts_a_signed_sendsms_request(provider) -> None:
    fake, endpoint = provider
    fake.responses.append(_ok())
    serial = await _sender(endpoint).send(CODE)
    assert serial == "2028:abc"
    [req] = fake.requests
    headers, body = req["headers"], json.loads(req["body"])
    assert req["method"] == "POST" and req["path"] == "/"
    assert headers["X-TC-Action"] == "SendSms"
    assert headers["X-TC-Version"] == "2021-01-11"
    assert headers["X-TC-Region"] == "ap-guangzhou"
    assert body == {
        "PhoneNumberSet": ["+8613912345678"], "SmsSdkAppId": "1400000001",
        "SignName": "劳动签", "TemplateId": "100001", "TemplateParamSet": ["123456", "5"],
    }
    auth = headers["Authorization"]
    assert auth.startswith(f"TC3-HMAC-SHA256 Credential={SECRET_ID}/")
    assert "/sms/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature=" in auth
    # The signature is the one the documented algorithm gives for exactly this request.
    expected = tc3_headers(
        secret_id=SECRET_ID, secret_key=SECRET_KEY, service="sms", host=headers["Host"],
        action="SendSms", version="2021-01-11", region="ap-guangzhou", payload=req["body"],
        timestamp=int(headers["X-TC-Timestamp"]),
    )
    assert auth == expected["Authorization"]


async def test_notice_uses_the_notice_template(provider) -> None:
    fake, endpoint = provider
    fake.responses.append(_ok())
    await _sender(endpoint).send(SmsMessage("13912345678", "notice", {"text": "你好"}, "你好"))
    body = json.loads(fake.requests[0]["body"])
    assert body["TemplateId"] == "100002" and body["TemplateParamSet"] == ["你好"]


async def test_invalid_number_is_a_permanent_failure(provider) -> None:
    fake, endpoint = provider
    fake.responses.append(_ok("InvalidParameterValue.IncorrectPhoneNumber"))
    with pytest.raises(PermanentFailure):
        await _sender(endpoint).send(CODE)


async def test_daily_limit_is_retryable(provider) -> None:
    fake, endpoint = provider
    fake.responses.append(_ok("LimitExceeded.PhoneNumberDailyLimit"))
    with pytest.raises(TencentSmsError):
        await _sender(endpoint).send(CODE)


async def test_api_level_auth_error_is_retryable_and_bad_parameter_permanent(provider) -> None:
    fake, endpoint = provider
    fake.responses.append({"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "x"},
                           "RequestId": "r"})
    fake.responses.append({"Error": {"Code": "InvalidParameterValue.TemplateParameterFormatError",
                                     "Message": "x"}, "RequestId": "r"})
    with pytest.raises(TencentSmsError):
        await _sender(endpoint).send(CODE)
    with pytest.raises(PermanentFailure):
        await _sender(endpoint).send(CODE)


async def test_missing_template_id_fails_permanently_without_a_request(provider) -> None:
    fake, endpoint = provider
    sender = TencentSmsSender(SmsConfig(provider="tencent", endpoint=endpoint, template_code=""))
    with pytest.raises(PermanentFailure):
        await sender.send(CODE)
    assert fake.requests == []
