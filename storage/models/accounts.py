"""People, their sessions, SMS codes and captcha challenges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = id_column()
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    # active | disabled | invited (added by an enterprise, not registered yet)
    status: Mapped[str] = mapped_column(String(20), default="active")
    # Identity, filled by a passed real-name check. The ID number is encrypted at rest;
    # the hash allows uniqueness checks and lookups without decrypting.
    identity_state: Mapped[str] = mapped_column(String(20), default="unverified")
    real_name: Mapped[str | None] = mapped_column(String(100))
    id_type: Mapped[str | None] = mapped_column(String(20))
    id_number_cipher: Mapped[str | None] = mapped_column(String(200))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(40))
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None]


class AgreementAcceptance(Base):
    """Which version of which agreement a person accepted, and when (evidence)."""

    __tablename__ = "agreement_acceptances"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # service | privacy | certificate | personal_info | biometric
    agreement: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(40))
    accepted_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(String(64))


class UserSession(Base):
    """Server-side session; the cookie/bearer token is stored only as its SHA-256."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = id_column()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    # how the session started: password | sms | wechat | qr
    method: Mapped[str] = mapped_column(String(20))


class SmsCode(Base):
    """A one-time code sent by SMS; stored hashed, single use, limited tries."""

    __tablename__ = "sms_codes"
    __table_args__ = (Index("ix_sms_codes_phone_purpose", "phone", "purpose"),)

    id: Mapped[str] = id_column()
    phone: Mapped[str] = mapped_column(String(20))
    # register | login | reset_password | change_phone_old | change_phone_new | sign | ...
    purpose: Mapped[str] = mapped_column(String(40))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))


class CaptchaChallenge(Base):
    __tablename__ = "captcha_challenges"

    id: Mapped[str] = id_column()
    answer_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # Set only with dev_mode on, so the dev tools and browser tests can read the answer.
    dev_answer: Mapped[str | None] = mapped_column(String(10))
