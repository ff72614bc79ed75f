"""Append-only, hash-chained audit log: one chain per enterprise and one for the platform."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("chain", "chain_seq"),)

    # Storage order across all chains (lists, paging). Not part of any hash: assigned by
    # the database, so appends to different chains never wait for each other.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # Which chain: the enterprise id, or "" for platform events.
    chain: Mapped[str] = mapped_column(String(32))
    # Position in its chain, from 1, assigned under the chain head's row lock.
    chain_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    at: Mapped[datetime]
    actor_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # Which enterprise (tenant) the action belongs to, if any.
    tenant_id: Mapped[str | None] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChain(Base):
    """A chain's head: its last position and hash. Locking it serialises appends to that
    chain only."""

    __tablename__ = "audit_chains"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
