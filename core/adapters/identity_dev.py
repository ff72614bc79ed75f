"""Development identity provider: deterministic outcomes, no outside service.

Documented inputs (README, "Dev identity provider"):
- ID number whose sequence code (digits 15-17) is 999: the check fails;
  998: the check stays pending.
- carrier 3-factor: a phone ending in 0000 fails (not registered to that person).
- bank-card 4-factor: a card ending in 0000 fails (card does not match).
- face: the dev liveness page (/dev/identity/face/<ref>, dev mode only) plays the
  provider's H5 page; the outcome follows the ID number rule above.
Everything else passes. It accepts every document type the form knows how to check
(居民身份证, 港澳台居民居住证, 外国人永久居留身份证) with every method.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import quote

from core.ports import FaceSession, IdentityResult


def _by_id_number(id_number: str) -> IdentityResult | None:
    sequence = id_number[14:17]
    if sequence == "999":
        return IdentityResult("failed", code="id_mismatch", message="姓名与身份证号不一致")
    if sequence == "998":
        return IdentityResult("pending", code="pending", message="核验中")
    return None


_ALL_TYPES = frozenset({"id_card", "hmt_residence", "foreign_permanent"})


class DevIdentityVerifier:
    name = "dev"
    id_types: ClassVar[Mapping[str, frozenset[str]]] = {
        "face": _ALL_TYPES, "carrier3": _ALL_TYPES, "bank4": _ALL_TYPES,
    }

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    @staticmethod
    def _ref(prefix: str, result: IdentityResult) -> str:
        # The outcome is carried in the reference so a later check_result can replay it.
        tag = {"verified": "pass", "failed": "fail"}.get(result.state, "wait")
        return f"dev-{prefix}-{tag}-{secrets.token_hex(8)}"

    @staticmethod
    def _with_ref(prefix: str, result: IdentityResult) -> IdentityResult:
        ref = DevIdentityVerifier._ref(prefix, result)
        return IdentityResult(result.state, ref, result.code, result.message)

    async def carrier3(self, name: str, id_number: str, phone: str) -> IdentityResult:
        outcome = _by_id_number(id_number)
        if outcome is None and phone.endswith("0000"):
            outcome = IdentityResult("failed", None, "phone_mismatch", "手机号不是本人实名登记")
        return self._with_ref("c3", outcome or IdentityResult("verified", None, "ok", "一致"))

    async def bank4(
        self, name: str, id_number: str, phone: str, bank_card: str
    ) -> IdentityResult:
        outcome = _by_id_number(id_number)
        if outcome is None and bank_card.endswith("0000"):
            outcome = IdentityResult("failed", None, "card_mismatch", "银行卡信息不一致")
        return self._with_ref("b4", outcome or IdentityResult("verified", None, "ok", "一致"))

    async def start_face(self, name: str, id_number: str, return_url: str) -> FaceSession:
        outcome = _by_id_number(id_number)
        tag = "pass" if outcome is None else ("fail" if outcome.state == "failed" else "wait")
        ref = f"dev-face-{tag}-{secrets.token_hex(8)}"
        url = f"{self.base_url}/dev/identity/face/{ref}?return={quote(return_url, safe='')}"
        return FaceSession(provider_ref=ref, redirect_url=url)

    async def face_result(self, provider_ref: str) -> IdentityResult:
        if provider_ref.startswith("dev-face-fail-"):
            return IdentityResult("failed", provider_ref, "face_mismatch", "人脸比对未通过")
        if provider_ref.startswith("dev-face-wait-"):
            return IdentityResult("pending", provider_ref, "pending", "核验中")
        if provider_ref.startswith("dev-face-pass-"):
            return IdentityResult("verified", provider_ref, "ok", "人脸比对通过")
        return IdentityResult("failed", provider_ref, "unknown_ref", "未知的核验记录")

    async def check_result(self, method: str, provider_ref: str) -> IdentityResult:
        if method == "face":
            return await self.face_result(provider_ref)
        for prefix in ("dev-c3-", "dev-b4-"):
            if provider_ref.startswith(prefix + "wait-"):
                # Documented: sequence code 998 stays pending however often it is asked.
                return IdentityResult("pending", provider_ref, "pending", "核验中")
            if provider_ref.startswith(prefix + "pass-"):
                return IdentityResult("verified", provider_ref, "ok", "一致")
            if provider_ref.startswith(prefix + "fail-"):
                return IdentityResult("failed", provider_ref, "mismatch", "信息不一致")
        return IdentityResult("failed", provider_ref, "unknown_ref", "未知的核验记录")
