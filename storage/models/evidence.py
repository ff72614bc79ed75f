"""Evidence around a contract: the signing disclosure (告知) a person accepted, the
platform-signed evidence reports (出证报告) we issued, paper-copy requests (纸质副本) and
batch evidence exports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class SigningDisclosure(Base):
    """电子劳动合同订立指引 Art. 6: a person was shown how electronic signing works and
    their rights, and accepted it. One row per person and text version."""

    __tablename__ = "signing_disclosures"
    __table_args__ = (UniqueConstraint("user_id", "version"),)

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(40))
    # The contract on whose way the text was first shown (None: shown on its own).
    contract_id: Mapped[str | None] = mapped_column(String(32))
    shown_at: Mapped[datetime]
    shown_ip: Mapped[str | None] = mapped_column(String(64))
    shown_user_agent: Mapped[str | None] = mapped_column(String(300))
    last_shown_at: Mapped[datetime]
    shown_count: Mapped[int] = mapped_column(Integer, default=1)
    accepted_at: Mapped[datetime | None]
    accepted_ip: Mapped[str | None] = mapped_column(String(64))
    accepted_user_agent: Mapped[str | None] = mapped_column(String(300))
    accepted_contract_id: Mapped[str | None] = mapped_column(String(32))


class EvidenceReport(Base):
    """A platform-signed evidence report of one contract. `fingerprint` names the
    evidence it was built from, so an unchanged contract gets the same file back."""

    __tablename__ = "contract_evidence_reports"
    __table_args__ = (UniqueConstraint("contract_id", "fingerprint"),)

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    file_key: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class PaperCopyRequest(Base):
    """A signer asked for a free paper copy (指引 Art. 13); HR tracks it to hand-over."""

    __tablename__ = "paper_copy_requests"
    __table_args__ = (
        UniqueConstraint("contract_id", "user_id"),
        Index("ix_paper_copy_requests_enterprise", "enterprise_id", "state", "requested_at"),
    )

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    enterprise_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    signer_name: Mapped[str] = mapped_column(String(200))
    # requested | printed | stamped | handed_over
    state: Mapped[str] = mapped_column(String(20))
    # How the worker wants it (collect in person, by post to ...), their words.
    note: Mapped[str] = mapped_column(String(200), default="")
    requested_at: Mapped[datetime]
    printed_at: Mapped[datetime | None]
    stamped_at: Mapped[datetime | None]
    handed_over_at: Mapped[datetime | None]
    updated_by: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime]


class EvidenceExport(Base):
    """A batch of contracts' evidence packages as one .zip, built by a job."""

    __tablename__ = "evidence_exports"
    __table_args__ = (Index("ix_evidence_exports_enterprise", "enterprise_id", "created_at"),)

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contract_ids: Mapped[list[Any]] = mapped_column(JSON)
    # queued | ready | failed
    state: Mapped[str] = mapped_column(String(20))
    file_key: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
