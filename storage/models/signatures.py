"""Handwritten signatures and the one-time tokens that hand the pad to a phone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class HandwrittenSignature(Base):
    __tablename__ = "handwritten_signatures"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Trimmed transparent PNG, a few KB: kept in the row so it travels with backups.
    png: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # pad_qr (drawn on a phone after scanning a PC's QR code) | pad_direct
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class SignaturePadToken(Base):
    """A QR code's capability: lets one phone add one signature to one account, briefly."""

    __tablename__ = "signature_pad_tokens"

    id: Mapped[str] = id_column()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    signature_id: Mapped[str | None] = mapped_column(String(32))
