"""Webhook endpoints, their delivery log, and the job that delivers one attempt.

An endpoint belongs to an enterprise, names the event types it wants and has a signing
secret (shown once when made; kept encrypted, since signing needs it in clear). Each
event an endpoint wants becomes a delivery (core/integration/events.py: emit) and a job
on the `webhooks` queue. A job makes one attempt; a failed attempt queues the next one
after RETRY_SCHEDULE (about a day in all) until one succeeds or the tries run out.

An endpoint whose deliveries fail for good AUTO_DISABLE_AFTER events in a row (each
failure having used every retry, so the endpoint has been unreachable for at least a
day) is switched off by itself, the audit log says so, and the enterprise's main admin
gets an SMS (through the job system). Switching it on again (console or API) resets it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from core import outbox
from core.context import Deps, RequestMeta
from core.enterprise import roles as R
from core.enterprise.common import log
from core.errors import Conflict, InvalidInput, NotFound
from core.integration import netguard, signature
from core.integration.events import (
    DELIVER_KIND,
    EVENT_TYPES,
    envelope,
    job_key,
    queue_attempt,
)
from core.periodic import PeriodicTask
from core.sms import queue_sms
from storage.models import (
    Enterprise,
    OutboxMessage,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from storage.uow import Tx

_log = logging.getLogger(__name__)

MAX_ENDPOINTS = 10
# The wait after the 1st, 2nd … failed attempt: nine attempts over about 25 hours.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=1),
    timedelta(hours=2), timedelta(hours=4), timedelta(hours=8), timedelta(hours=9),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
# Events in a row whose delivery failed for good before the endpoint is switched off.
AUTO_DISABLE_AFTER = 3
DISABLED_FAILING = "failing"
STATUS_LABELS = {"pending": "待发送", "retrying": "等待重试", "succeeded": "成功",
                 "failed": "失败"}
LOG_PAGE = 50


@dataclass(frozen=True)
class EndpointView:
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    created_at: datetime
    # Deliveries of the last attempt outcome, for the list.
    failing: int
    # Events in a row that failed for good; "failing": switched off by itself.
    consecutive_failures: int = 0
    disabled_reason: str | None = None
    disabled_at: datetime | None = None


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: EndpointView
    # Shown once; afterwards only the platform can read it.
    secret: str


@dataclass(frozen=True)
class DeliveryView:
    id: str
    endpoint_id: str
    endpoint_url: str
    event_id: str
    event_type: str
    status: str
    status_label: str
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    last_response: str | None
    last_ms: int | None


def _clean_types(types: Sequence[str]) -> list[str]:
    chosen = [t for t in dict.fromkeys(types) if t in EVENT_TYPES]
    if not chosen:
        raise InvalidInput("请至少选择一种事件", code="no_event_types", field="event_types")
    return chosen


def _clean_description(text: str) -> str:
    text = (text or "").strip()
    if len(text) > 100:
        raise InvalidInput("备注不能超过 100 个字", code="description_too_long",
                           field="description")
    return text


async def _failing(tx: Tx, endpoint_ids: list[str]) -> dict[str, int]:
    if not endpoint_ids:
        return {}
    rows = (await tx.session.execute(
        select(WebhookDelivery.endpoint_id, func.count())
        .where(WebhookDelivery.endpoint_id.in_(endpoint_ids),
               WebhookDelivery.status.in_(["retrying", "failed"]))
        .group_by(WebhookDelivery.endpoint_id)
    )).all()
    return {eid: n for eid, n in rows}


def _view(e: WebhookEndpoint, failing: int = 0) -> EndpointView:
    return EndpointView(e.id, e.url, e.description, list(e.event_types or []), e.enabled,
                        e.created_at, failing, e.consecutive_failures or 0,
                        e.disabled_reason, e.disabled_at)


async def _endpoint(tx: Tx, enterprise_id: str, endpoint_id: str) -> WebhookEndpoint:
    row = (await tx.session.execute(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id[:32],
                                      WebhookEndpoint.enterprise_id == enterprise_id,
                                      WebhookEndpoint.deleted_at.is_(None))
    )).scalar_one_or_none()
    if row is None:
        raise NotFound("回调地址不存在", code="webhook_not_found")
    return row


async def list_endpoints(deps: Deps, user_id: str, enterprise_id: str) -> list[EndpointView]:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        rows = list((await tx.session.execute(
            select(WebhookEndpoint).where(WebhookEndpoint.enterprise_id == enterprise_id,
                                          WebhookEndpoint.deleted_at.is_(None))
            .order_by(WebhookEndpoint.created_at)
        )).scalars())
        failing = await _failing(tx, [r.id for r in rows])
    return [_view(r, failing.get(r.id, 0)) for r in rows]


async def get_endpoint(deps: Deps, user_id: str, enterprise_id: str, endpoint_id: str
                       ) -> EndpointView:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        row = await _endpoint(tx, enterprise_id, endpoint_id)
        failing = await _failing(tx, [row.id])
    return _view(row, failing.get(row.id, 0))


async def create_endpoint(deps: Deps, user_id: str, enterprise_id: str, *, url: str,
                          event_types: Sequence[str], description: str = "",
                          meta: RequestMeta) -> CreatedEndpoint:
    """A new endpoint and its secret (returned once). Outside dev mode the URL must be
    https and resolve to public addresses only."""
    types = _clean_types(event_types)
    description = _clean_description(description)
    # Checked before the transaction: resolving a name may take seconds.
    url = await netguard.check_url(url, dev_mode=deps.config.server.dev_mode)
    secret = signature.new_secret()
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        count = (await tx.session.execute(
            select(func.count()).select_from(WebhookEndpoint)
            .where(WebhookEndpoint.enterprise_id == enterprise_id,
                   WebhookEndpoint.deleted_at.is_(None))
        )).scalar_one()
        if count >= MAX_ENDPOINTS:
            raise Conflict(f"每个企业最多 {MAX_ENDPOINTS} 个回调地址", code="too_many_webhooks")
        row = WebhookEndpoint(enterprise_id=enterprise_id, url=url, description=description,
                              event_types=types, secret_enc=deps.field_cipher.encrypt(secret),
                              enabled=True, created_by=user_id, created_at=now,
                              updated_at=now)
        tx.session.add(row)
        await tx.session.flush()
        await log(tx, deps, "webhook.created", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="webhook", subject_id=row.id,
                  data={"url": url, "event_types": ",".join(types)}, meta=meta)
        return CreatedEndpoint(_view(row), secret)


async def update_endpoint(deps: Deps, user_id: str, enterprise_id: str, endpoint_id: str, *,
                          url: str, event_types: Sequence[str], description: str,
                          enabled: bool, meta: RequestMeta) -> EndpointView:
    types = _clean_types(event_types)
    description = _clean_description(description)
    url = await netguard.check_url(url, dev_mode=deps.config.server.dev_mode)
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        row = await _endpoint(tx, enterprise_id, endpoint_id)
        if enabled and not row.enabled:  # on again: the failure count starts afresh
            row.consecutive_failures, row.disabled_reason, row.disabled_at = 0, None, None
        elif not enabled and row.enabled:
            row.disabled_reason, row.disabled_at = None, deps.clock.now()
        row.url, row.event_types, row.description, row.enabled = url, types, description, enabled
        row.updated_at = deps.clock.now()
        await log(tx, deps, "webhook.updated", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="webhook", subject_id=row.id,
                  data={"url": url, "event_types": ",".join(types),
                        "enabled": "yes" if enabled else "no"}, meta=meta)
        return _view(row)


async def delete_endpoint(deps: Deps, user_id: str, enterprise_id: str, endpoint_id: str,
                          meta: RequestMeta) -> None:
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        row = await _endpoint(tx, enterprise_id, endpoint_id)
        row.deleted_at = row.updated_at = deps.clock.now()
        row.enabled = False
        await log(tx, deps, "webhook.deleted", actor_id=user_id, enterprise_id=enterprise_id,
                  subject_type="webhook", subject_id=row.id, data={"url": row.url}, meta=meta)


async def rotate_secret(deps: Deps, user_id: str, enterprise_id: str, endpoint_id: str,
                        meta: RequestMeta) -> str:
    """A new secret, effective at once (shown once)."""
    secret = signature.new_secret()
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        row = await _endpoint(tx, enterprise_id, endpoint_id)
        row.secret_enc = deps.field_cipher.encrypt(secret)
        row.updated_at = deps.clock.now()
        await log(tx, deps, "webhook.secret_rotated", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="webhook", subject_id=row.id,
                  meta=meta)
    return secret


# -- the delivery log ------------------------------------------------------------------


def _delivery_view(d: WebhookDelivery, url: str, event_type: str) -> DeliveryView:
    return DeliveryView(d.id, d.endpoint_id, url, d.event_id, event_type, d.status,
                        STATUS_LABELS.get(d.status, d.status), d.attempts, d.created_at,
                        d.last_attempt_at, d.next_attempt_at if d.status in (
                            "pending", "retrying") else None,
                        d.last_status, d.last_error, d.last_response, d.last_ms)


async def list_deliveries(deps: Deps, user_id: str, enterprise_id: str, *,
                          endpoint_id: str | None = None, status: str | None = None,
                          offset: int = 0, limit: int = LOG_PAGE) -> list[DeliveryView]:
    """Newest first, at most `limit` (≤ 100)."""
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        query = (select(WebhookDelivery, WebhookEndpoint.url, WebhookEvent.type)
                 .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                 .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                 .where(WebhookDelivery.enterprise_id == enterprise_id)
                 .order_by(WebhookDelivery.created_at.desc(), WebhookEvent.seq.desc())
                 .offset(max(0, offset)).limit(max(1, min(limit, 100))))
        if endpoint_id:
            query = query.where(WebhookDelivery.endpoint_id == endpoint_id[:32])
        if status in STATUS_LABELS:
            query = query.where(WebhookDelivery.status == status)
        rows = (await tx.session.execute(query)).all()
    return [_delivery_view(d, url, t) for d, url, t in rows]


async def redeliver(deps: Deps, user_id: str, enterprise_id: str, delivery_id: str,
                    meta: RequestMeta) -> DeliveryView:
    """Send a delivery again now (after a fix on the receiver's side), with a fresh set
    of tries; a queued retry of it is cancelled."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await R.require_permission(tx, user_id, enterprise_id, R.ENTERPRISE_MANAGE)
        row = (await tx.session.execute(
            select(WebhookDelivery, WebhookEndpoint.url, WebhookEvent.type)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id == delivery_id[:32],
                   WebhookDelivery.enterprise_id == enterprise_id,
                   WebhookEndpoint.deleted_at.is_(None))
        )).first()
        if row is None:
            raise NotFound("投递记录不存在", code="delivery_not_found")
        delivery, url, event_type = row
        await outbox.cancel(tx, DELIVER_KIND, job_key(delivery.id))
        delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, now
        await queue_attempt(tx, deps, delivery, now)
        await log(tx, deps, "webhook.redelivered", actor_id=user_id,
                  enterprise_id=enterprise_id, subject_type="webhook_delivery",
                  subject_id=delivery.id, data={"event_id": delivery.event_id}, meta=meta)
        return _delivery_view(delivery, url, event_type)


# -- delivering ---------------------------------------------------------------------


def body_of(event: WebhookEvent) -> bytes:
    """The exact bytes signed and sent: compact JSON, keys sorted, UTF-8."""
    return json.dumps(envelope(event), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()


async def deliver_webhook(deps: Deps, msg: OutboxMessage) -> None:
    """One attempt of one delivery (the `webhook.deliver` job). Its outcome lives on the
    delivery row; a failure queues the next attempt itself, on the retry schedule."""
    delivery_id = str(msg.payload.get("delivery_id", ""))
    async with deps.db.sessions() as session:
        row = (await session.execute(
            select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id == delivery_id)
        )).first()
    if row is None:
        return
    delivery, endpoint, event = row
    if delivery.status in ("succeeded", "failed"):
        return
    if not endpoint.enabled or endpoint.deleted_at is not None:
        await _record(deps, delivery.id, None, "endpoint disabled or deleted", None, None,
                      final=True, counts=False)
        return
    sender = deps.webhook_sender
    if sender is None:
        raise outbox.PermanentFailure("no webhook sender configured")
    try:
        secret = deps.field_cipher.decrypt(endpoint.secret_enc)
    except Exception:  # the data key changed: no retry can sign it
        await _record(deps, delivery.id, None, "the signing secret cannot be read; "
                      "change the endpoint's secret", None, None, final=True)
        return
    body = body_of(event)
    stamp = int(deps.clock.now().timestamp())
    result = await sender.post(endpoint.url, body,
                               signature.headers(secret, event.id, stamp, body),
                               allow_private=deps.config.server.dev_mode)
    error = None if result.ok else (result.error or f"HTTP {result.status}")
    await _record(deps, delivery.id, result.status, error, result.text, result.ms)


async def _record(deps: Deps, delivery_id: str, status: int | None, error: str | None,
                  text: str | None, ms: int | None, *, final: bool = False,
                  counts: bool = True) -> None:
    """The attempt's outcome on the delivery; a delivery that failed for good counts
    against its endpoint (`counts`: False when the endpoint was off anyway)."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        delivery = (await tx.session.execute(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
        )).scalar_one_or_none()
        if delivery is None:
            return
        delivery.attempts += 1
        delivery.last_attempt_at, delivery.last_status = now, status
        delivery.last_error = error[:500] if error else None
        delivery.last_response = (text or "")[:1000] or None
        delivery.last_ms = ms
        if error is None:
            delivery.status, delivery.succeeded_at, delivery.next_attempt_at = (
                "succeeded", now, None)
            await _endpoint_outcome(tx, deps, delivery.endpoint_id, ok=True)
        elif final or delivery.attempts >= MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = "failed", None
            _log.warning("webhook delivery failed for good", extra={"id": delivery.id})
            if counts:
                await _endpoint_outcome(tx, deps, delivery.endpoint_id, ok=False)
        else:
            wait = RETRY_SCHEDULE[delivery.attempts - 1]
            delivery.status, delivery.next_attempt_at = "retrying", now + wait
            await queue_attempt(tx, deps, delivery, now + wait)


async def _endpoint_outcome(tx: Tx, deps: Deps, endpoint_id: str, *, ok: bool) -> None:
    """Count a delivery's final outcome on its endpoint; switch the endpoint off after
    AUTO_DISABLE_AFTER failures in a row and tell the main admin."""
    endpoint = (await tx.session.execute(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update()
    )).scalar_one_or_none()
    if endpoint is None:
        return
    if ok:
        endpoint.consecutive_failures = 0
        return
    endpoint.consecutive_failures = (endpoint.consecutive_failures or 0) + 1
    if not endpoint.enabled or endpoint.deleted_at is not None or \
            endpoint.consecutive_failures < AUTO_DISABLE_AFTER:
        return
    now = deps.clock.now()
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = (
        False, DISABLED_FAILING, now)
    endpoint.updated_at = now
    await log(tx, deps, "webhook.auto_disabled", actor_id=None,
              enterprise_id=endpoint.enterprise_id, subject_type="webhook",
              subject_id=endpoint.id,
              data={"url": endpoint.url, "failures": endpoint.consecutive_failures})
    admin = (await tx.session.execute(
        select(User.phone).join(Enterprise, Enterprise.main_admin_id == User.id)
        .where(Enterprise.id == endpoint.enterprise_id)
    )).scalar_one_or_none()
    if admin:
        await queue_sms(tx, deps, admin, "notice", {
            "text": "贵企业的事件回调地址连续多次推送失败（已重试约一天），已自动停用。"
                    "请检查接收服务后，在企业控制台“设置-事件回调”中重新启用。"},
            dedupe_key=f"webhook-off:{endpoint.id}:{now.isoformat()}")


# -- retention ------------------------------------------------------------------------

# Events and finished deliveries older than this are deleted (the feed's numbering goes
# on: an enterprise's head keeps its last number).
RETENTION = timedelta(days=90)
PRUNE_BATCH = 5000


async def prune(deps: Deps) -> dict[str, int]:
    """Delete old finished deliveries, then old events nothing is still delivering."""
    cutoff = deps.clock.now() - RETENTION
    async with deps.db.transaction() as tx:
        old = select(WebhookDelivery.id).where(
            WebhookDelivery.created_at < cutoff,
            WebhookDelivery.status.in_(["succeeded", "failed"])).limit(PRUNE_BATCH)
        deliveries = await tx.changed(
            delete(WebhookDelivery).where(WebhookDelivery.id.in_(old)))
        busy = select(WebhookDelivery.event_id)
        stale = select(WebhookEvent.id).where(
            WebhookEvent.created_at < cutoff, WebhookEvent.id.not_in(busy)).limit(PRUNE_BATCH)
        events = await tx.changed(delete(WebhookEvent).where(WebhookEvent.id.in_(stale)))
    return {"webhook_deliveries": deliveries, "webhook_events": events}


PRUNE_TASK = PeriodicTask("webhooks.prune", timedelta(hours=1), prune)
