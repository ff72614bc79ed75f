"""Signer certificates with their wrapped private keys, and one-time signing grants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class Certificate(Base):
    """An end-entity certificate issued by our CA to a person, an enterprise or a seal."""

    __tablename__ = "certificates"
    __table_args__ = (Index("ix_certificates_owner", "owner_type", "owner_id", "status"),)

    id: Mapped[str] = id_column()
    # person | enterprise | seal
    owner_type: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[str] = mapped_column(String(64))
    # Hex serial number, unique per issuing CA (we have one).
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(400))
    issuer: Mapped[str] = mapped_column(String(400))
    key_algorithm: Mapped[str] = mapped_column(String(20))
    cert_der: Mapped[bytes] = mapped_column(LargeBinary)
    cert_pem: Mapped[str] = mapped_column(Text)
    # db | pkcs11
    key_store: Mapped[str] = mapped_column(String(20))
    # db: AES-GCM wrapped PKCS#8 (key derived per certificate from the KEK);
    # pkcs11: the key label inside the token.
    key_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_label: Mapped[str | None] = mapped_column(String(100))
    # active | revoked
    status: Mapped[str] = mapped_column(String(20), default="active")
    revoked_at: Mapped[datetime | None]
    # RFC 5280 reason name: key_compromise, cessation_of_operation, superseded, ...
    revocation_reason: Mapped[str | None] = mapped_column(String(40))
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    created_at: Mapped[datetime]


class SigningGrant(Base):
    """A one-time permission to use one certificate's key, created after the owner confirmed.

    The grant's token is sealed with a key derived from the KEK and only its hash is kept;
    a grant is consumed once (used_at) and expires quickly.
    """

    __tablename__ = "signing_grants"

    id: Mapped[str] = id_column()
    certificate_id: Mapped[str] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), index=True
    )
    # Who confirmed (user id) and what they confirmed (e.g. contract signer id).
    actor_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(200))
    # The document the owner saw when confirming, hex SHA-256.
    document_sha256: Mapped[str] = mapped_column(String(64))
    # Reference of the confirmation evidence (e.g. the SMS code row id).
    confirmation_ref: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
