"""Batch sending (C2), multi-document sign tasks (E5) and the onboarding template (E4).

A `ContractBatch` is one published template version sent to many people: a draft
(parsed and checked, shown as a preview) until confirmed, then `running` while the bulk
queue turns each `BatchRow` into one contract, then `finished`. A row is unique per
(batch, row number) and records its contract in the transaction that creates it, so a
retried job never makes a second contract.

A `SignTask` groups several contracts sent to one person at once (contract + NDA +
handbook acknowledgement) that they sign together with one SMS code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class ContractBatch(Base):
    __tablename__ = "contract_batches"
    __table_args__ = (Index("ix_contract_batches_enterprise_created", "enterprise_id",
                            "created_at"),)

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    template_id: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[str] = mapped_column(ForeignKey("template_versions.id"))
    version: Mapped[int] = mapped_column(Integer)
    template_name: Mapped[str] = mapped_column(String(100))
    # xlsx | roster
    source: Mapped[str] = mapped_column(String(10))
    # draft (preview, not sent) | running | finished
    state: Mapped[str] = mapped_column(String(10))
    created_by: Mapped[str] = mapped_column(String(32))
    deadline: Mapped[datetime | None]
    seal_id: Mapped[str | None] = mapped_column(String(32))
    total: Mapped[int] = mapped_column(Integer, default=0)
    # Rows of the upload that were refused: [{"row", "column", "message"}] (bounded).
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    error_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class BatchRow(Base):
    __tablename__ = "contract_batch_rows"
    __table_args__ = (
        UniqueConstraint("batch_id", "row_no", name="uq_contract_batch_rows_row"),
        Index("ix_contract_batch_rows_state", "batch_id", "state"),
    )

    id: Mapped[str] = id_column()
    batch_id: Mapped[str] = mapped_column(ForeignKey("contract_batches.id", ondelete="CASCADE"))
    # The Excel row number (header is row 1), or the position in a roster selection.
    row_no: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(20))
    employee_id: Mapped[str | None] = mapped_column(String(32))
    # The sender values of this row, already checked.
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # queued | created | failed
    state: Mapped[str] = mapped_column(String(10))
    contract_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # The employee's signer row (notified / signed counts).
    signer_id: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime]


class SignTask(Base):
    """Several contracts for one person, signed with one code."""

    __tablename__ = "sign_tasks"
    __table_args__ = (Index("ix_sign_tasks_enterprise_created", "enterprise_id", "created_at"),)

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class SignTaskItem(Base):
    __tablename__ = "sign_task_items"

    task_id: Mapped[str] = mapped_column(ForeignKey("sign_tasks.id", ondelete="CASCADE"),
                                         primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"),
                                             primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class OnboardingTemplate(Base):
    """The template the enterprise's onboarding QR carries: a worker who joins by the QR
    and is approved gets a contract from it at once (E4)."""

    __tablename__ = "onboarding_templates"

    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(32))
    # The member who chose it; the contract is sent in their name.
    set_by: Mapped[str] = mapped_column(String(32))
    set_at: Mapped[datetime]
