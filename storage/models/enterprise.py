"""Enterprises and everything an HR console manages: certification, members, roles,
seals, departments, employees; plus platform operators and the dev bank's transfers.

Every tenant-owned row carries `enterprise_id`, and every service query filters on it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class Enterprise(Base):
    __tablename__ = "enterprises"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), index=True)
    # False when the GB 32100 check character did not match (warned, operator may override).
    credit_code_check_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    credit_code_override_by: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(300))
    legal_rep_name: Mapped[str] = mapped_column(String(100))
    legal_rep_id_cipher: Mapped[str] = mapped_column(String(200))
    legal_rep_id_hash: Mapped[str] = mapped_column(String(64))
    legal_rep_id_masked: Mapped[str] = mapped_column(String(40))
    licence_file: Mapped[str | None] = mapped_column(String(200))
    # cloud | hardware
    certificate_kind: Mapped[str] = mapped_column(String(20), default="cloud")
    # certifying (认证中) | certified (已认证) | revoked (已撤销) | rejected (驳回)
    state: Mapped[str] = mapped_column(String(20), index=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    # Who submitted the certification (becomes main admin on success).
    certifier_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    main_admin_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The enterprise certificate, once the signing engine issued it.
    certificate_id: Mapped[str | None] = mapped_column(String(32))
    # Keys of the onboarding field catalogue this enterprise collects.
    onboarding_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Automatic reminders to pending signers (core/contracts/reminders.py): the first
    # this many days after sending, then every `reminder_every_days`, at most
    # `reminder_max` times. NULL first days: no automatic reminders.
    reminder_first_days: Mapped[int | None] = mapped_column(Integer)
    reminder_every_days: Mapped[int | None] = mapped_column(Integer)
    reminder_max: Mapped[int | None] = mapped_column(Integer)
    certified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CertificationAttempt(Base):
    """One try at proving control of an enterprise by one method (certify or appeal)."""

    __tablename__ = "certification_attempts"

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    # certify | appeal
    purpose: Mapped[str] = mapped_column(String(20), default="certify")
    applicant_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    # legal_rep_phone | legal_rep_face | auth_letter | micro_deposit
    method: Mapped[str] = mapped_column(String(20))
    # started | code_sent | awaiting_review | passed | failed | expired | cancelled
    state: Mapped[str] = mapped_column(String(20), index=True)
    # Method data: masked phone, provider ref, letter file key, masked bank account...
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Micro-deposit: HMAC of the amount (never the amount itself), tries used.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None]
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class EnterpriseRole(Base):
    __tablename__ = "enterprise_roles"
    __table_args__ = (UniqueConstraint("enterprise_id", "name"),)

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(40))
    # main_admin | admin | hr | legal | employee for the built-ins; None for custom roles.
    builtin: Mapped[str | None] = mapped_column(String(20))
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]


class BusinessType(Base):
    """劳动合同, 劳务派遣合同, …: members only see the business types they are granted."""

    __tablename__ = "business_types"
    __table_args__ = (UniqueConstraint("enterprise_id", "name"),)

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]


class Member(Base):
    __tablename__ = "enterprise_members"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "phone"),
        Index("ix_enterprise_members_user", "user_id", "status"),
    )

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    # None while invited by phone and not registered (未激活).
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    phone: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(100))
    # inactive (未激活) | active | removed
    status: Mapped[str] = mapped_column(String(20))
    role_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    business_type_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # join | invite | certifier | appeal
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]


class JoinRequest(Base):
    __tablename__ = "join_requests"

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(String(300))
    # pending | approved | rejected | revoked
    state: Mapped[str] = mapped_column(String(20), index=True)
    reject_reason: Mapped[str | None] = mapped_column(String(300))
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Seal(Base):
    __tablename__ = "seals"

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(60))
    # official (公章) | contract (合同章) | legal_rep (法人章) | custom
    kind: Mapped[str] = mapped_column(String(20))
    # enabled | disabled | voided
    status: Mapped[str] = mapped_column(String(20))
    # ready | pending (待生成图片: no seal-image generator wired yet)
    image_state: Mapped[str] = mapped_column(String(20))
    image_file: Mapped[str | None] = mapped_column(String(200))
    # generated | uploaded
    source: Mapped[str] = mapped_column(String(20))
    auto_sign: Mapped[bool] = mapped_column(Boolean, default=False)
    certificate_id: Mapped[str | None] = mapped_column(String(32))
    void_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    voided_at: Mapped[datetime | None]


class SealGrant(Base):
    __tablename__ = "seal_grants"
    __table_args__ = (Index("ix_seal_grants_member", "enterprise_id", "member_id"),)

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("enterprise_members.id", ondelete="CASCADE"))
    granted_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class SealUsage(Base):
    """Each use of a seal on a document (written by the signing flow)."""

    __tablename__ = "seal_usages"

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(32))
    # sign | auto_sign
    action: Mapped[str] = mapped_column(String(20))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime]


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"))
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime]


class Employee(Base):
    __tablename__ = "employees"
    __table_args__ = (Index("ix_employees_enterprise_status", "enterprise_id", "status"),
                      Index("ix_employees_enterprise_phone", "enterprise_id", "phone"))

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20))
    id_type: Mapped[str | None] = mapped_column(String(20))
    id_number_cipher: Mapped[str | None] = mapped_column(String(200))
    id_number_hash: Mapped[str | None] = mapped_column(String(64))
    id_number_masked: Mapped[str | None] = mapped_column(String(40))
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"))
    position: Mapped[str | None] = mapped_column(String(60))
    start_date: Mapped[date | None] = mapped_column(Date)
    resign_date: Mapped[date | None] = mapped_column(Date)
    # collecting (信息采集中) | pending_review | active | rejected | resigned
    status: Mapped[str] = mapped_column(String(20))
    # Other catalogue values; sensitive ones (bank card) are stored encrypted + masked.
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reject_reason: Mapped[str | None] = mapped_column(String(300))
    # manual | import | collect | qr
    source: Mapped[str] = mapped_column(String(20))
    # Information collection link: only the SHA-256 of the token is stored.
    collect_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    collect_expires_at: Mapped[datetime | None]
    user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AdminChange(Base):
    """A hand-over of the main-admin role: by the old admin (transfer) or by appeal."""

    __tablename__ = "admin_changes"

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    # transfer | appeal
    kind: Mapped[str] = mapped_column(String(20))
    from_user_id: Mapped[str | None] = mapped_column(String(32))
    to_user_id: Mapped[str] = mapped_column(String(32))
    # pending | done | failed | cancelled
    state: Mapped[str] = mapped_column(String(20))
    attempt_id: Mapped[str | None] = mapped_column(String(32))
    handover: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class PlatformOperator(Base):
    """Platform staff who review authorisation letters and appeals (created by the CLI)."""

    __tablename__ = "platform_operators"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    created_at: Mapped[datetime]


class DevBankTransfer(Base):
    """What the development payment gateway 'sent' (shown on /dev/payments)."""

    __tablename__ = "dev_bank_transfers"

    id: Mapped[str] = id_column()
    account_name: Mapped[str] = mapped_column(String(200))
    account_masked: Mapped[str] = mapped_column(String(40))
    bank_name: Mapped[str] = mapped_column(String(100))
    amount_cents: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
