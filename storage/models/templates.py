"""Contract templates (C1): a PDF with signer roles and fields, drafts and published versions.

The draft is the row being edited; publishing copies it into an immutable
`TemplateVersion`. A contract sent from a template keeps the version it came from
(`TemplateContract`), together with the fields its employee still has to fill in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class Template(Base):
    __tablename__ = "templates"
    __table_args__ = (Index("ix_templates_enterprise_updated", "enterprise_id", "updated_at"),)

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    # 劳动合同 | 劳务派遣合同 | 保密协议 | 实习协议 | 劳务合同 | 其他
    business_type: Mapped[str] = mapped_column(String(20))
    # draft (never published) | published (the draft may still have unpublished edits)
    state: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(200))
    file_key: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    page_sizes: Mapped[list[Any]] = mapped_column(JSON)
    # [{"key", "party": enterprise|person, "name", "order"}]
    roles: Mapped[list[Any]] = mapped_column(JSON)
    # [{"key", "kind", "label", "role", "filler", "required", "font_size", "format",
    #   "placements": [{"page", "x", "y", "w", "h"}]}] - fractions of the page, top-left.
    fields: Mapped[list[Any]] = mapped_column(JSON)
    # The last published version number (0: none); `dirty` when the draft changed since.
    published_version: Mapped[int] = mapped_column(Integer, default=0)
    dirty: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TemplateVersion(Base):
    """A published, immutable snapshot of a template."""

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[str] = id_column()
    template_id: Mapped[str] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"),
                                             index=True)
    enterprise_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    business_type: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(200))
    file_key: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    page_sizes: Mapped[list[Any]] = mapped_column(JSON)
    roles: Mapped[list[Any]] = mapped_column(JSON)
    fields: Mapped[list[Any]] = mapped_column(JSON)
    # The labour-law check's result at publishing (E2), kept as evidence.
    law_check: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    published_by: Mapped[str] = mapped_column(String(32))
    published_at: Mapped[datetime]


class TemplateContract(Base):
    """Which template version a contract was sent from, and what is left to fill in."""

    __tablename__ = "template_contracts"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), primary_key=True
    )
    template_id: Mapped[str] = mapped_column(String(32), index=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("template_versions.id"))
    version: Mapped[int] = mapped_column(Integer)
    # The fields the employee (乙方补全) fills on the signing page, with their placements
    # in PDF points: [{"key", "kind", "label", "required", "format", "font_size",
    #                  "boxes": [[page, x1, y1, x2, y2]]}]
    employee_fields: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The person signer who fills them; None once filled (or when there are none).
    employee_signer_id: Mapped[str | None] = mapped_column(String(32))
    employee_filled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
