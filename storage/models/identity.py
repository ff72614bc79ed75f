"""Real-name checks and the evidence they leave."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class IdentityVerification(Base):
    __tablename__ = "identity_verifications"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # 1, 2, 3... per person: the order of attempts even when timestamps tie.
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # face | carrier3 | bank4
    method: Mapped[str] = mapped_column(String(20))
    # pending | verified | failed
    state: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(40))
    provider_ref: Mapped[str | None] = mapped_column(String(128), index=True)
    real_name: Mapped[str] = mapped_column(String(100))
    id_type: Mapped[str] = mapped_column(String(20))
    id_number_cipher: Mapped[str] = mapped_column(String(200))
    id_number_hash: Mapped[str] = mapped_column(String(64))
    id_number_masked: Mapped[str] = mapped_column(String(40))
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    bank_card_masked: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    result_code: Mapped[str | None] = mapped_column(String(60))
    result_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
