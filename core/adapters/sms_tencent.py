"""Tencent Cloud SMS (短信) adapter: API 3.0, version 2021-01-11, action SendSms.

Reference: Tencent Cloud SMS API "SendSms" (发送短信). The templates registered with
Tencent must carry the parameters in the order of TEMPLATE_PARAMS below: the code
template "验证码为{1}，{2}分钟内有效", the notice template "{1}". Tencent reports a
per-number outcome in SendStatusSet even when the call itself succeeds.
"""

from __future__ import annotations

import logging

from core.adapters.tencent_cloud import TencentCloudError, call
from core.config import SmsConfig
from core.crypto import mask_phone
from core.outbox import PermanentFailure
from core.ports import SmsMessage

log = logging.getLogger("laborsign.sms.tencent")

SERVICE = "sms"
VERSION = "2021-01-11"
ACTION = "SendSms"
TEMPLATE_PARAMS = {"code": ("code", "minutes"), "notice": ("text",)}

# Outcomes that no retry can change: the number, the sign or the template is wrong,
# or the number refuses messages. Everything else (limits, provider trouble) is retried.
PERMANENT_PREFIXES = (
    "InvalidParameterValue.",
    "InvalidParameter.",
    "FailedOperation.PhoneNumberInBlacklist",
    "FailedOperation.PhoneNumberOnBlacklist",
    "FailedOperation.SignatureIncorrectOrUnapproved",
    "FailedOperation.TemplateIncorrectOrUnapproved",
    "FailedOperation.ContainSensitiveWord",
    "FailedOperation.MissingSignature",
    "FailedOperation.MissingTemplate",
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail",
    "UnsupportedOperation.",
)


class TencentSmsError(Exception):
    """The provider refused this message for now; the outbox retries it later."""


def is_permanent(code: str) -> bool:
    return code.startswith(PERMANENT_PREFIXES)


class TencentSmsSender:
    name = "tencent"

    def __init__(self, config: SmsConfig) -> None:
        self.config = config

    def _template_id(self, template: str) -> str:
        template_id = {"code": self.config.template_code,
                       "notice": self.config.template_notice}.get(template, "")
        if not template_id:
            raise PermanentFailure(f"no Tencent template configured for {template!r}")
        return template_id

    def request_params(self, message: SmsMessage) -> dict[str, object]:
        names = TEMPLATE_PARAMS.get(message.template)
        if names is None:
            raise PermanentFailure(f"unknown SMS template {message.template!r}")
        return {
            "PhoneNumberSet": [f"+86{message.phone}"],
            "SmsSdkAppId": self.config.sdk_app_id,
            "SignName": self.config.sign_name,
            "TemplateId": self._template_id(message.template),
            "TemplateParamSet": [str(message.params.get(n, "")) for n in names],
        }

    async def send(self, message: SmsMessage) -> str:
        params = self.request_params(message)
        try:
            response = await call(
                endpoint=self.config.endpoint, service=SERVICE, action=ACTION, version=VERSION,
                region=self.config.region, secret_id=self.config.secret_id,
                secret_key=self.config.secret_key, params=params,
            )
        except TencentCloudError as exc:
            log.warning("tencent sms refused", extra={"code": exc.code,
                                                      "request_id": exc.request_id})
            if is_permanent(exc.code):
                raise PermanentFailure(f"{exc.code}: {exc.message}") from exc
            raise TencentSmsError(f"{exc.code}: {exc.message}") from exc
        statuses = response.get("SendStatusSet") or []
        if not statuses:
            raise TencentSmsError("no SendStatusSet in response")
        status = statuses[0]
        code = str(status.get("Code", ""))
        if code != "Ok":
            log.warning("tencent sms not sent", extra={"code": code,
                                                       "phone": mask_phone(message.phone)})
            text = f"{code}: {status.get('Message', '')}"
            if is_permanent(code):
                raise PermanentFailure(text)
            raise TencentSmsError(text)
        return str(status.get("SerialNo") or response.get("RequestId") or "")
