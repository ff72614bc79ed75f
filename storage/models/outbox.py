"""Side effects queued inside a transaction and delivered after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class OutboxMessage(Base):
    """A job: a side effect or a piece of background work, on a named queue."""

    __tablename__ = "outbox"
    __table_args__ = (
        # What a queue's runner claims: its due rows, oldest first.
        Index("ix_outbox_queue_status_next", "queue", "status", "next_attempt_at"),
        # Idempotency is per kind: a key means nothing to another kind of job.
        UniqueConstraint("kind", "dedupe_key", name="uq_outbox_kind_dedupe_key"),
    )

    id: Mapped[str] = id_column()
    # e.g. sms.send, wechat.template, contract.sign
    kind: Mapped[str] = mapped_column(String(40))
    # codes | notify | signing | webhooks | bulk (core/outbox.py: QUEUES)
    queue: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # queued | sending | sent | failed (a dead letter) | cancelled | discarded
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    # Not before: a scheduled job's time, or a retry's back-off.
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Idempotency: a second enqueue with the same kind and key is a no-op. A key given
    # with a window carries the window's number, so the same key works again later.
    dedupe_key: Mapped[str | None] = mapped_column(String(160))


class PeriodicRun(Base):
    """When a periodic task is next due. The process that moves `next_run_at` forward
    (a compare-and-set) runs it, so it runs once across all processes."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    next_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
    # How many periods have run: with the times, what shows it ran once per period.
    runs: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ConsoleSms(Base):
    """What the console SMS sender 'sent': the dev inbox reads this table."""

    __tablename__ = "console_sms"

    id: Mapped[str] = id_column()
    phone: Mapped[str] = mapped_column(String(20), index=True)
    template: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    sent_at: Mapped[datetime]
