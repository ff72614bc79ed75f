"""Events: what happened in an enterprise, recorded in the transaction that made it
happen, and fanned out to the enterprise's webhook endpoints as delivery jobs.

Each enterprise's events are numbered 1, 2, 3 … under a row lock on its head, so the
numbers follow commit order and `GET /api/v1/events?after=` can page through them
without ever skipping one that committed late.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core import outbox
from core.context import Deps
from core.enterprise import roles as R
from core.errors import InvalidInput
from storage.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookEventHead
from storage.uow import Tx

# Event type → the label people read in the console.
EVENT_TYPES: dict[str, str] = {
    "contract.sent": "合同已发起",
    "contract.signed": "合同有一方已签署",
    "contract.completed": "合同已签署完成",
    "contract.rejected": "合同被拒签",
    "contract.revoked": "合同已撤销",
    "contract.expired": "合同已过期",
    "contract.archived": "纸质合同已归档",
    "employee.approved": "员工入职审核通过",
    "batch.finished": "批量任务已完成",
}
DELIVER_KIND = "webhook.deliver"
MAX_PAGE = 100
DEFAULT_PAGE = 50


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def job_key(delivery_id: str) -> str:
    """The prefix of every delivery job's key, so a redelivery can cancel queued ones."""
    return f"webhook:{delivery_id}:"


async def queue_attempt(tx: Tx, deps: Deps, delivery: WebhookDelivery, run_at: datetime
                        ) -> None:
    await outbox.enqueue(
        tx, DELIVER_KIND, {"delivery_id": delivery.id}, now=deps.clock.now(),
        run_at=run_at, queue="webhooks", wakeup=deps.outbox_wakeup,
        dedupe_key=job_key(delivery.id) + uuid.uuid4().hex[:12],
    )


# Session.info keys: what this transaction already read for an enterprise's events. The
# head stays locked until the transaction ends, and a contract's signature and its
# completion emit two events in one transaction.
HEADS_KEY = "laborsign_event_heads"
ENDPOINTS_KEY = "laborsign_event_endpoints"


_HEAD = (select(WebhookEventHead).where(WebhookEventHead.enterprise_id == bindparam("e"))
         .with_for_update())
_ENDPOINTS = select(WebhookEndpoint).where(WebhookEndpoint.enterprise_id == bindparam("e"),
                                           WebhookEndpoint.enabled.is_(True),
                                           WebhookEndpoint.deleted_at.is_(None))


async def _next_seq(tx: Tx, enterprise_id: str) -> int:
    heads: dict[str, WebhookEventHead] = tx.session.info.setdefault(HEADS_KEY, {})
    if enterprise_id in heads:
        heads[enterprise_id].seq += 1
        return heads[enterprise_id].seq
    head = (await tx.session.execute(_HEAD, {"e": enterprise_id})).scalar_one_or_none()
    if head is None:
        # FOR UPDATE locks nothing when the row is missing: create it idempotently first.
        insert = pg_insert if tx.dialect == "postgresql" else sqlite_insert
        await tx.session.execute(insert(WebhookEventHead).values(
            enterprise_id=enterprise_id, seq=0).on_conflict_do_nothing())
        head = (await tx.session.execute(_HEAD, {"e": enterprise_id})).scalar_one()
    head.seq += 1
    heads[enterprise_id] = head
    return head.seq


async def _endpoints(tx: Tx, enterprise_id: str) -> list[WebhookEndpoint]:
    cached: dict[str, list[WebhookEndpoint]] = tx.session.info.setdefault(ENDPOINTS_KEY, {})
    if enterprise_id not in cached:
        cached[enterprise_id] = list(
            (await tx.session.execute(_ENDPOINTS, {"e": enterprise_id})).scalars())
    return cached[enterprise_id]


async def emit(tx: Tx, deps: Deps, enterprise_id: str, event_type: str,
               data: dict[str, Any]) -> WebhookEvent:
    """Record an event in the caller's transaction and queue one delivery job per
    endpoint that subscribed to its type. A rollback sends nothing."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    now = deps.clock.now()
    event = WebhookEvent(id=new_event_id(), enterprise_id=enterprise_id,
                         seq=await _next_seq(tx, enterprise_id), type=event_type,
                         created_at=now, data=data)
    tx.session.add(event)
    endpoints = await _endpoints(tx, enterprise_id)
    await tx.session.flush()
    for endpoint in endpoints:
        if event_type not in (endpoint.event_types or ()):
            continue
        delivery = WebhookDelivery(enterprise_id=enterprise_id, endpoint_id=endpoint.id,
                                   event_id=event.id, status="pending", attempts=0,
                                   created_at=now, next_attempt_at=now)
        tx.session.add(delivery)
        await tx.session.flush()
        await queue_attempt(tx, deps, delivery, now)
    return event


def envelope(event: WebhookEvent) -> dict[str, Any]:
    """What a receiver gets (the webhook body) and what the events API lists."""
    return {"id": event.id, "type": event.type, "seq": event.seq,
            "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
            "enterprise_id": event.enterprise_id, "data": event.data}


# -- the events feed ------------------------------------------------------------------


@dataclass(frozen=True)
class EventPage:
    events: list[dict[str, Any]]
    # Pass as `after` to get the next page (the last event's number, or `after` itself).
    next_cursor: str
    has_more: bool


async def _cursor_seq(tx: Tx, enterprise_id: str, after: str) -> int:
    after = after.strip()
    if not after:
        return 0
    if after.isascii() and after.isdigit() and len(after) <= 15:
        return int(after)
    if after.startswith("evt_") and len(after) <= 40:
        seq = (await tx.session.execute(
            select(WebhookEvent.seq).where(WebhookEvent.enterprise_id == enterprise_id,
                                           WebhookEvent.id == after)
        )).scalar_one_or_none()
        if seq is not None:
            return seq
    raise InvalidInput("after 参数须为事件 ID 或游标", code="invalid_cursor", field="after")


async def list_events(deps: Deps, user_id: str, enterprise_id: str, *, after: str = "",
                      limit: int = DEFAULT_PAGE, types: frozenset[str] | None = None
                      ) -> EventPage:
    """The enterprise's events after a cursor, oldest first, at most MAX_PAGE."""
    limit = max(1, min(limit, MAX_PAGE))
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        start = await _cursor_seq(tx, enterprise_id, after)
        query = (select(WebhookEvent)
                 .where(WebhookEvent.enterprise_id == enterprise_id, WebhookEvent.seq > start)
                 .order_by(WebhookEvent.seq).limit(limit + 1))
        if types:
            query = query.where(WebhookEvent.type.in_(sorted(types)))
        rows = list((await tx.session.execute(query)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = str(rows[-1].seq) if rows else str(start)
    return EventPage([envelope(r) for r in rows], cursor, more)


# -- where events come from ------------------------------------------------------------

# Contract audit actions that are also events: every path that writes one of these
# audit entries (core/contracts/common.py: log) emits the event in the same transaction.
CONTRACT_EVENTS = frozenset({"contract.sent", "contract.signed", "contract.completed",
                             "contract.rejected", "contract.revoked", "contract.expired",
                             "contract.archived"})
# What of the audit entry's data an event carries (no phones, IPs or device details).
_CONTRACT_FIELDS = ("signer_id", "party", "name", "reason", "document_sha256")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


async def contract_event(tx: Tx, deps: Deps, action: str, contract: Any,
                         data: dict[str, Any] | None) -> None:
    """The event for a contract's audit action, if it is one."""
    if action not in CONTRACT_EVENTS or not contract.enterprise_id:
        return
    payload: dict[str, Any] = {
        "contract_id": contract.id, "title": contract.title, "state": str(contract.state),
        **{k: v for k, v in (data or {}).items() if k in _CONTRACT_FIELDS},
    }
    if action == "contract.signed":
        payload["signer_name"] = payload.pop("name", None)
    if action == "contract.sent":
        payload["deadline"] = _iso(contract.deadline)
    await emit(tx, deps, contract.enterprise_id, action, payload)
