"""Tencent Cloud FaceID (慧眼, faceid.tencentcloudapi.com, API version 2018-03-01).

- carrier 3-factor: `PhoneVerification` (IdCard, Name, Phone) → Result code;
- bank-card 4-factor: `BankCard4EVerification` (Name, BankCard, Phone, IdCard, CertType);
- face (H5 liveness + comparison with the ID register): `DetectAuth` (RuleId, IdCard,
  Name, RedirectUrl) → Url + BizToken; the result is fetched with
  `GetDetectInfoEnhanced` (BizToken, RuleId, InfoType=1: text only, no images or video,
  so no biometric data ever reaches us).

Document types: the carrier and bank checks compare with registers keyed by the mainland
resident ID number only (PhoneVerification takes an IdCard; BankCard4EVerification's
CertType is fixed to 0, 身份证). The face check compares with the public-security photo
register, which also holds the holders of 港澳台居民居住证 (same 18-digit layout). The
foreign permanent residence card and the travel permits are not open to commercial
checks (National Immigration Administration rules), so they are not offered.

Result codes follow the FaceID API reference; anything that is not a decision about the
person (provider busy, our account's quota, bad credentials) is either a retryable
failure or ProviderUnavailable, never "verified".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from core.adapters.tencent_cloud import TencentCloudError, call
from core.config import IdentityConfig
from core.errors import ProviderUnavailable
from core.ports import FaceSession, IdentityResult

SERVICE = "faceid"
VERSION = "2018-03-01"

# PhoneVerification Result codes (0 and -4 are charged decisions; the rest are not).
PHONE_RESULTS: dict[str, tuple[str, str]] = {
    "0": ("verified", "三要素信息一致"),
    "-4": ("failed", "姓名、身份证号与手机号实名信息不一致"),
    "-6": ("failed", "手机号码不合法"),
    "-7": ("failed", "身份证号码有误"),
    "-8": ("failed", "姓名校验不通过"),
    "-9": ("failed", "运营商没有该手机号的实名记录"),
    "-11": ("failed", "验证中心服务繁忙，请稍后重试"),
    "-12": ("failed", "今日认证次数已达上限，请明天再试"),
    "-13": ("failed", "该手机号段暂不支持验证，请换用其他认证方式"),
}

# BankCard4EVerification Result codes.
BANK4_RESULTS: dict[str, tuple[str, str]] = {
    "0": ("verified", "认证通过"),
    "-1": ("failed", "银行卡信息与本人不一致"),
    "-2": ("failed", "姓名校验不通过"),
    "-3": ("failed", "身份证号码有误"),
    "-4": ("failed", "银行卡号码有误"),
    "-5": ("failed", "手机号码不合法"),
    "-18": ("failed", "验证中心服务繁忙，请稍后重试"),
    "-19": ("failed", "今日认证次数已达上限，请明天再试"),
}

# Errors that say something about the request (the person's data or an expired
# BizToken) rather than about our account or the service.
_PERSON_ERRORS = ("InvalidParameter", "InvalidParameterValue")


class TencentFaceIdVerifier:
    name = "tencent"
    id_types: ClassVar[Mapping[str, frozenset[str]]] = {
        "face": frozenset({"id_card", "hmt_residence"}),
        "carrier3": frozenset({"id_card"}),
        "bank4": frozenset({"id_card"}),
    }

    def __init__(self, config: IdentityConfig, *, timeout_seconds: float = 10.0) -> None:
        self.config = config
        self.timeout_seconds = timeout_seconds

    async def _call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if not (self.config.secret_id and self.config.secret_key):
            raise ProviderUnavailable("实名认证服务未配置", code="provider_not_configured")
        return await call(
            endpoint=self.config.endpoint,
            service=SERVICE,
            action=action,
            version=VERSION,
            region=self.config.region,
            secret_id=self.config.secret_id,
            secret_key=self.config.secret_key,
            params=params,
            timeout_seconds=self.timeout_seconds,
        )

    async def _decision(
        self, action: str, params: dict[str, Any], table: dict[str, tuple[str, str]]
    ) -> IdentityResult:
        try:
            response = await self._call(action, params)
        except TencentCloudError as err:
            if err.code.startswith(_PERSON_ERRORS):
                return IdentityResult("failed", err.request_id, err.code, "提交的信息有误，请核对")
            raise ProviderUnavailable() from None
        code = str(response.get("Result", ""))
        state, message = table.get(code, ("failed", response.get("Description") or "认证未通过"))
        return IdentityResult(state, response.get("RequestId"), f"tc:{code}", message)

    async def carrier3(self, name: str, id_number: str, phone: str) -> IdentityResult:
        return await self._decision(
            "PhoneVerification", {"IdCard": id_number, "Name": name, "Phone": phone},
            PHONE_RESULTS,
        )

    async def bank4(
        self, name: str, id_number: str, phone: str, bank_card: str
    ) -> IdentityResult:
        # CertType 0: resident ID card (the only type the service checks).
        return await self._decision(
            "BankCard4EVerification",
            {"Name": name, "BankCard": bank_card, "Phone": phone, "IdCard": id_number,
             "CertType": 0},
            BANK4_RESULTS,
        )

    async def start_face(self, name: str, id_number: str, return_url: str) -> FaceSession:
        if not self.config.face_rule_id:
            raise ProviderUnavailable("人脸识别服务未配置", code="provider_not_configured")
        try:
            response = await self._call(
                "DetectAuth",
                {"RuleId": self.config.face_rule_id, "IdCard": id_number, "Name": name,
                 "RedirectUrl": return_url},
            )
        except TencentCloudError:
            raise ProviderUnavailable() from None
        token, url = response.get("BizToken"), response.get("Url")
        if not token or not url:
            raise ProviderUnavailable()
        return FaceSession(provider_ref=token, redirect_url=url)

    async def face_result(self, provider_ref: str) -> IdentityResult:
        try:
            response = await self._call(
                "GetDetectInfoEnhanced",
                {"BizToken": provider_ref, "RuleId": self.config.face_rule_id, "InfoType": "1"},
            )
        except TencentCloudError as err:
            if err.code.startswith(_PERSON_ERRORS):
                # e.g. InvalidParameterValue.BizTokenExpired: the flow can no longer finish.
                return IdentityResult(
                    "failed", provider_ref, err.code, "人脸识别已过期，请重新认证"
                )
            raise ProviderUnavailable() from None
        text = response.get("Text") or {}
        err_code = text.get("ErrCode")
        if err_code is None:
            # The person has not finished the liveness page yet.
            return IdentityResult("pending", provider_ref, "tc:unfinished", "人脸识别尚未完成")
        if int(err_code) == 0:
            return IdentityResult("verified", provider_ref, "tc:0", "人脸比对通过")
        return IdentityResult("failed", provider_ref, f"tc:{err_code}",
                              text.get("ErrMsg") or "人脸识别未通过")

    async def check_result(self, method: str, provider_ref: str) -> IdentityResult:
        if method == "face":
            return await self.face_result(provider_ref)
        # Carrier and bank checks answer at once and are never left pending by this
        # adapter; asking again is not possible without the raw inputs.
        return IdentityResult("failed", provider_ref, "not_pollable", "请重新提交认证")
