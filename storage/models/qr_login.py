"""PC QR login (PRODUCT A2): a PC shows a QR code, a logged-in phone confirms it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class QrLogin(Base):
    """One QR code on one PC browser: lives two minutes, logs in at most once."""

    __tablename__ = "qr_logins"

    id: Mapped[str] = id_column()
    # SHA-256 of the token in the QR code, and of the secret in the PC browser's cookie.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    # The WeChat scene (kind pc_login) for scanning with WeChat, when one was made.
    scene_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # pending | scanned | confirmed | cancelled | used
    state: Mapped[str] = mapped_column(String(20), default="pending")
    next_path: Mapped[str] = mapped_column(String(300), default="/")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    pc_ip: Mapped[str | None] = mapped_column(String(64))
    pc_user_agent: Mapped[str | None] = mapped_column(String(300))
    confirmed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    confirmed_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
