"""What certification is made of: the enterprise and attempt state machines, the proof
methods, limits and lifetimes."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from core.files import MB
from core.statemachine import StateMachine


class EnterpriseState(StrEnum):
    CERTIFYING = "certifying"
    CERTIFIED = "certified"
    REVOKED = "revoked"
    REJECTED = "rejected"


ENTERPRISE_STATE_LABELS = {
    "certifying": "认证中", "certified": "已认证", "revoked": "已撤销", "rejected": "驳回",
}

ENTERPRISE_SM = StateMachine(
    "enterprise",
    {
        EnterpriseState.CERTIFYING: frozenset(
            {EnterpriseState.CERTIFIED, EnterpriseState.REJECTED, EnterpriseState.REVOKED}
        ),
        EnterpriseState.REJECTED: frozenset(
            {EnterpriseState.CERTIFYING, EnterpriseState.REVOKED}
        ),
        # Name or credit-code change: certified again only after a new certification.
        EnterpriseState.CERTIFIED: frozenset({EnterpriseState.CERTIFYING}),
        EnterpriseState.REVOKED: frozenset(),
    },
)


class AttemptState(StrEnum):
    PENDING = "pending"  # waiting for the applicant: code sent, money sent, face, letter
    AWAITING_REVIEW = "awaiting_review"  # stamped letter uploaded, operator to decide
    PASSED = "passed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


ATTEMPT_STATE_LABELS = {
    "pending": "进行中", "awaiting_review": "待平台审核", "passed": "已通过",
    "failed": "未通过", "expired": "已过期", "cancelled": "已取消",
}

_DONE: frozenset[AttemptState] = frozenset()
ATTEMPT_SM = StateMachine(
    "certification_attempt",
    {
        AttemptState.PENDING: frozenset({
            AttemptState.PENDING, AttemptState.AWAITING_REVIEW, AttemptState.PASSED,
            AttemptState.FAILED, AttemptState.EXPIRED, AttemptState.CANCELLED,
        }),
        AttemptState.AWAITING_REVIEW: frozenset(
            {AttemptState.PASSED, AttemptState.FAILED, AttemptState.CANCELLED}
        ),
        AttemptState.PASSED: _DONE,
        AttemptState.FAILED: _DONE,
        AttemptState.EXPIRED: _DONE,
        AttemptState.CANCELLED: _DONE,
    },
)

METHODS = {
    "legal_rep_phone": "法定代表人手机号认证",
    "legal_rep_face": "法定代表人刷脸认证",
    "auth_letter": "授权委托书认证",
    "micro_deposit": "对公打款认证",
}
CERTIFICATE_KINDS = {"cloud": "云证书（平台托管）", "hardware": "硬件证书（UKey）"}

LICENCE_MAX_BYTES = 10 * MB
LETTER_MAX_BYTES = 15 * MB
DEPOSIT_TTL = timedelta(hours=48)
DEPOSIT_MAX_TRIES = 3
PHONE_ATTEMPT_TTL = timedelta(minutes=30)
FACE_ATTEMPT_TTL = timedelta(minutes=30)
LETTER_ATTEMPT_TTL = timedelta(days=30)
SMS_PURPOSE = "enterprise_auth"

