"""Contracts sent for signing: the document and its versions, the signers and their boxes,
the evidence of each signer's intent, and the registry of every document hash we produced.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class Contract(Base):
    __tablename__ = "contracts"
    __table_args__ = (
        Index("ix_contracts_enterprise_state", "enterprise_id", "state"),
        Index("ix_contracts_initiator", "initiator_id", "created_at"),
        Index("ix_contracts_state_deadline", "state", "deadline"),
        Index("ix_contracts_state_reminder", "state", "next_reminder_at"),
        Index("ix_contracts_state_due_notice", "state", "due_notice_at"),
        # The ledger: a human contract number, unique within the enterprise.
        UniqueConstraint("enterprise_id", "number"),
        Index("ix_contracts_enterprise_sent", "enterprise_id", "sent_at"),
        Index("ix_contracts_enterprise_type", "enterprise_id", "business_type_id"),
    )

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))
    # HT + the Beijing date of creation + the enterprise's sequence of that day.
    number: Mapped[str | None] = mapped_column(String(24))
    # The enterprise's business type (劳动合同, 保密协议, …): members limited to some
    # types see only those contracts.
    business_type_id: Mapped[str | None] = mapped_column(String(32))
    # Confidential: only the initiator, the handler (seal holder), cc and the main admin.
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    # 防抽页: every page carries a QR code opening /verify/c/<page_token>?p=<page>.
    page_qr: Mapped[bool] = mapped_column(Boolean, default=False)
    # The opaque token of those links (random, never derived from the id); NULL without.
    page_token: Mapped[str | None] = mapped_column(String(32), unique=True)
    # 骑缝章: the enterprise's seal is split across the right edge of every page.
    cross_seal: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who may refuse to sign (core.contracts.states.REJECT_BY): all | persons |
    # enterprises | none.
    reject_by: Mapped[str] = mapped_column(String(12), default="all", server_default="all")
    initiator_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    # draft | in_progress | completed | rejected | revoked | expired
    state: Mapped[str] = mapped_column(String(20))
    deadline: Mapped[datetime | None]
    # Why it ended early (rejected: the signer's reason; revoked: the initiator's).
    end_reason: Mapped[str | None] = mapped_column(String(300))
    ended_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # Automatic reminders (core/contracts/reminders.py): how many went out, and when the
    # next one is due (NULL: none left, or the enterprise has them off).
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_reminder_at: Mapped[datetime | None]
    # When the "due tomorrow" notice is due (deadline minus a day); NULL once sent or
    # when the contract had less than a day to run.
    due_notice_at: Mapped[datetime | None]


class ContractDocument(Base):
    """The PDF of a contract. `file_key` always points at the CURRENT bytes; every signature
    writes a new file and bumps `version` (compare-and-set under a row lock)."""

    __tablename__ = "contract_documents"

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), unique=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    original_key: Mapped[str] = mapped_column(String(200))
    original_sha256: Mapped[str] = mapped_column(String(64))
    file_key: Mapped[str] = mapped_column(String(200))
    current_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    page_count: Mapped[int] = mapped_column(Integer)
    # Page sizes in points, [[w, h], ...], for placing boxes on page images.
    page_sizes: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)
    signature_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class ContractSigner(Base):
    __tablename__ = "contract_signers"
    __table_args__ = (
        # One row per person (by phone) or enterprise per contract.
        UniqueConstraint("contract_id", "party", "party_key"),
        Index("ix_contract_signers_phone", "phone", "state"),
        Index("ix_contract_signers_user", "user_id", "state"),
        Index("ix_contract_signers_enterprise", "enterprise_id", "state"),
    )

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    # person | enterprise
    party: Mapped[str] = mapped_column(String(20))
    # The phone (person) or the enterprise id (enterprise): what makes the row unique.
    party_key: Mapped[str] = mapped_column(String(64))
    # Signing order: every signer of the lowest unfinished order signs (in parallel).
    sign_order: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    # Person: the phone the link goes to; enterprise: empty.
    phone: Mapped[str | None] = mapped_column(String(20))
    # Person: linked when the account with that phone is known or first opens the link.
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    seal_id: Mapped[str | None] = mapped_column(String(32))
    # waiting | pending | signing | signed | rejected
    state: Mapped[str] = mapped_column(String(20))
    # Who actually signed (the person, or the authorised member for an enterprise).
    signed_by: Mapped[str | None] = mapped_column(String(32))
    certificate_id: Mapped[str | None] = mapped_column(String(32))
    reject_reason: Mapped[str | None] = mapped_column(String(300))
    signed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # The last urge (催办) by the sending side: one per signer per URGE_INTERVAL,
    # claimed by a conditional UPDATE so it holds across processes.
    last_urged_at: Mapped[datetime | None]
    urge_count: Mapped[int] = mapped_column(Integer, default=0)


class SignatureField(Base):
    """A signature box: created in the PDF (empty) before the first signature."""

    __tablename__ = "contract_signature_fields"
    __table_args__ = (UniqueConstraint("contract_id", "field_name"),)

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    signer_id: Mapped[str] = mapped_column(
        ForeignKey("contract_signers.id", ondelete="CASCADE"), index=True
    )
    field_name: Mapped[str] = mapped_column(String(64))
    # 0-based page index; rectangle in PDF points (origin bottom-left).
    page: Mapped[int] = mapped_column(Integer)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    signed_at: Mapped[datetime | None]


class IntentConfirmation(Base):
    """Evidence that a signer meant to sign (SMS code), one per signer: the unique signer id
    is what makes a second signing impossible even under a race."""

    __tablename__ = "contract_intent_confirmations"

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    signer_id: Mapped[str] = mapped_column(
        ForeignKey("contract_signers.id", ondelete="CASCADE"), unique=True
    )
    # The person who confirmed (the signer, or the authorised member).
    user_id: Mapped[str] = mapped_column(String(32))
    phone_masked: Mapped[str] = mapped_column(String(20))
    # The SMS code row that was sent for this signing (binds the code to this contract).
    sms_code_id: Mapped[str | None] = mapped_column(String(32))
    code_sent_at: Mapped[datetime | None]
    code_entered_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    document_sha256_before: Mapped[str | None] = mapped_column(String(64))
    document_sha256_after: Mapped[str | None] = mapped_column(String(64))
    grant_id: Mapped[str | None] = mapped_column(String(32))
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class DocumentHash(Base):
    """Every PDF version we produced, so an uploaded copy can be recognised."""

    __tablename__ = "contract_document_hashes"

    id: Mapped[str] = id_column()
    # Not unique: the same original PDF may be sent in several contracts.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    # original | prepared | signed
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]


class ContractCc(Base):
    """A person a contract is copied to (抄送): they may read it but never sign. Picked from
    the members or typed as a phone; linked to the account with that phone when known."""

    __tablename__ = "contract_ccs"
    __table_args__ = (
        UniqueConstraint("contract_id", "phone"),
        Index("ix_contract_ccs_phone", "phone"),
        Index("ix_contract_ccs_user", "user_id"),
    )

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    phone: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    # Set when picked from the enterprise's members.
    member_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]


class ContractNumberCounter(Base):
    """The last contract number given out per enterprise and Beijing day (YYYYMMDD)."""

    __tablename__ = "contract_number_counters"

    enterprise_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
