"""Paper archive (纸质归档, PRODUCT C7): contracts signed on paper, scanned to PDF and
kept in the ledger. Each archived contract is a `Contract` in the `archived` state (with
its `ContractDocument` and one signed person row, so the ledger, search and the
employee's own list show it) plus one `PaperArchive` row with the paper's metadata.

An `ArchiveBatch` is one upload of a .zip of PDFs and an .xlsx of their metadata: a draft
(checked, the valid rows' PDFs already stored, the refused rows' cell errors kept) until
confirmed, then `done`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class PaperArchive(Base):
    __tablename__ = "paper_archives"
    __table_args__ = (
        Index("ix_paper_archives_enterprise_created", "enterprise_id", "created_at"),
        Index("ix_paper_archives_batch", "batch_id"),
    )

    id: Mapped[str] = id_column()
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), unique=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    # single | batch
    source: Mapped[str] = mapped_column(String(10))
    batch_id: Mapped[str | None] = mapped_column(String(32))
    employee_name: Mapped[str] = mapped_column(String(40))
    employee_phone: Mapped[str] = mapped_column(String(20))
    # The roster row picked, when the employee was picked from the roster.
    employee_id: Mapped[str | None] = mapped_column(String(32))
    signed_on: Mapped[date] = mapped_column(Date)
    start_on: Mapped[date | None] = mapped_column(Date)
    end_on: Mapped[date | None] = mapped_column(Date)
    remarks: Mapped[str] = mapped_column(String(500), default="")
    # SHA-256 of the PDF as uploaded (the ContractDocument keeps the same hash).
    sha256: Mapped[str] = mapped_column(String(64))
    archived_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class ArchiveBatch(Base):
    __tablename__ = "paper_archive_batches"
    __table_args__ = (Index("ix_paper_archive_batches_enterprise", "enterprise_id",
                            "created_at"),)

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    created_by: Mapped[str] = mapped_column(String(32))
    # draft (checked, not archived) | done
    state: Mapped[str] = mapped_column(String(10))
    zip_name: Mapped[str] = mapped_column(String(200))
    # Rows that will be archived: [{"row", "filename", "title", "business_type_id", "name",
    # "phone", "signed_on", "start_on", "end_on", "number", "remarks", "file_key", "sha256",
    # "size", "page_count", "page_sizes"}] (bounded by MAX_ROWS).
    rows: Mapped[list[Any]] = mapped_column(JSON, default=list)
    total: Mapped[int] = mapped_column(Integer, default=0)
    # Refused cells: [{"row", "column", "message"}] (bounded).
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    error_rows: Mapped[int] = mapped_column(Integer, default=0)
    archived: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]


class ArchiveNumberCounter(Base):
    """The last archive number (GD…) given out per enterprise and Beijing day."""

    __tablename__ = "paper_archive_number_counters"

    enterprise_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
