"""All models, imported here so Alembic and create_all see every table."""

from storage.models.accounts import (
    AgreementAcceptance,
    CaptchaChallenge,
    SmsCode,
    User,
    UserSession,
)
from storage.models.audit import AuditEntry, AuditHead
from storage.models.base import Base, new_id
from storage.models.identity import IdentityVerification
from storage.models.outbox import ConsoleSms, OutboxMessage
from storage.models.ratelimit import RateEvent

__all__ = [
    "AgreementAcceptance",
    "AuditEntry",
    "AuditHead",
    "Base",
    "CaptchaChallenge",
    "ConsoleSms",
    "IdentityVerification",
    "OutboxMessage",
    "RateEvent",
    "SmsCode",
    "User",
    "UserSession",
    "new_id",
]
