"""Integration: outbound webhooks (endpoints, events, deliveries) and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column

_BigInt = BigInteger().with_variant(Integer, "sqlite")


class WebhookEndpoint(Base):
    """A URL an enterprise receives signed events at."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(100), default="")
    # The event types it receives (core/integration/events.py: EVENT_TYPES).
    event_types: Mapped[list[str]] = mapped_column(JSON)
    # The signing secret, encrypted with the field cipher (needed in clear to sign).
    secret_enc: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Events in a row whose delivery failed for good (every retry used); a success
    # resets it. At core/integration/webhooks.py AUTO_DISABLE_AFTER the endpoint is
    # switched off: disabled_reason "failing" (None: on, or off by hand).
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0,
                                                      server_default="0")
    disabled_reason: Mapped[str | None] = mapped_column(String(20))
    disabled_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Deleted endpoints keep their delivery log readable; nothing is sent to them.
    deleted_at: Mapped[datetime | None]


class WebhookEventHead(Base):
    """An enterprise's last event number. Locking it orders that enterprise's events in
    commit order, so `GET /events?after=` never skips one that commits late."""

    __tablename__ = "webhook_event_heads"

    enterprise_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(_BigInt)


class WebhookEvent(Base):
    """Something that happened in an enterprise, written with the business change."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("enterprise_id", "seq"),)

    # "evt_" + 32 hex characters: the id receivers deduplicate on.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"))
    # Position in the enterprise's sequence, from 1: the events API's cursor.
    seq: Mapped[int] = mapped_column(_BigInt)
    type: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class WebhookDelivery(Base):
    """One event for one endpoint: its attempts, outcome and next try."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_enterprise_created", "enterprise_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(String(32))
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True)
    # pending | retrying | succeeded | failed
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    succeeded_at: Mapped[datetime | None]
    # The receiver's HTTP status of the last attempt (None: no answer).
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # The start of the last answer's body, for the log.
    last_response: Mapped[str | None] = mapped_column(String(1000))
    last_ms: Mapped[int | None] = mapped_column(Integer)


class ApiKey(Base):
    """A server-to-server credential of an enterprise. Only the SHA-256 of the key is
    stored; it acts as the member who made it, within its scope."""

    __tablename__ = "api_keys"

    id: Mapped[str] = id_column()
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(60))
    # read | contracts | employees | admin (core/integration/api_keys.py: SCOPES)
    scope: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, shown so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    last_used_ip: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(32))
