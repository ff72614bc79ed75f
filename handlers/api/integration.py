"""JSON API for integration: the events feed, webhook endpoints and API keys
(docs/integration.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core.errors import InvalidInput
from core.integration import api_keys as K
from core.integration import events as EV
from core.integration import webhooks as W
from handlers.api.registry import ApiRoutes, OkOut, parse, reply
from handlers.keys import API_KEY_KEY, DEPS
from handlers.util import bounded_int, request_meta, require_session

api = ApiRoutes("integration")


class EventOut(BaseModel):
    id: str = Field(description="evt_…: the same id as the webhook-id header")
    type: str
    seq: int = Field(description="position in the enterprise's event sequence")
    created_at: str
    enterprise_id: str
    data: dict[str, Any]


class EventPageOut(BaseModel):
    events: list[EventOut]
    next_cursor: str = Field(description="pass as ?after= for the next page")
    has_more: bool


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    created_at: datetime
    failing: int = Field(description="deliveries now retrying or failed")
    consecutive_failures: int = Field(
        0, description="events in a row whose delivery failed after every retry")
    disabled_reason: str | None = Field(
        None, description="\"failing\": switched off by itself after "
        f"{W.AUTO_DISABLE_AFTER} such events; PATCH enabled=true turns it on again")
    disabled_at: datetime | None = None


class EndpointListOut(BaseModel):
    endpoints: list[EndpointOut]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=500)
    url: str = Field(max_length=500, description="https:// URL on a public address")
    event_types: list[str] = Field(max_length=20)
    description: str = Field(default="", max_length=100)


class EndpointPatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=500)
    url: str | None = Field(default=None, max_length=500)
    event_types: list[str] | None = Field(default=None, max_length=20)
    description: str | None = Field(default=None, max_length=100)
    enabled: bool | None = None


class SecretOut(BaseModel):
    secret: str = Field(description="the new whsec_… secret, effective at once; shown once")


class EndpointCreatedOut(BaseModel):
    endpoint: EndpointOut
    secret: str = Field(description="whsec_…: shown once; the HMAC key is its base64 part")


class DeliveryOut(BaseModel):
    id: str
    endpoint_id: str
    endpoint_url: str
    event_id: str
    event_type: str
    status: str = Field(description="pending | retrying | succeeded | failed")
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    last_ms: int | None


class DeliveryListOut(BaseModel):
    deliveries: list[DeliveryOut]


class ApiKeyOut(BaseModel):
    id: str
    name: str
    scope: str = Field(description="read | contracts | employees | admin")
    scope_label: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    last_used_ip: str | None
    revoked_at: datetime | None


class ApiKeyListOut(BaseModel):
    keys: list[ApiKeyOut]


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=60)
    scope: str = Field(max_length=20, description="read | contracts | employees | admin")


class ApiKeyCreatedOut(BaseModel):
    key: ApiKeyOut
    token: str = Field(description="lsk_…: shown in this answer only; stored as a hash")


def _key(v: K.ApiKeyView) -> ApiKeyOut:
    return ApiKeyOut(id=v.id, name=v.name, scope=v.scope, scope_label=v.scope_label,
                     prefix=v.prefix, created_by=v.created_by, created_at=v.created_at,
                     last_used_at=v.last_used_at, last_used_ip=v.last_used_ip,
                     revoked_at=v.revoked_at)


def _endpoint(v: W.EndpointView) -> EndpointOut:
    return EndpointOut(id=v.id, url=v.url, description=v.description,
                       event_types=v.event_types, enabled=v.enabled, created_at=v.created_at,
                       failing=v.failing, consecutive_failures=v.consecutive_failures,
                       disabled_reason=v.disabled_reason, disabled_at=v.disabled_at)


def _delivery(d: W.DeliveryView) -> DeliveryOut:
    return DeliveryOut(id=d.id, endpoint_id=d.endpoint_id, endpoint_url=d.endpoint_url,
                       event_id=d.event_id, event_type=d.event_type, status=d.status,
                       attempts=d.attempts, created_at=d.created_at,
                       last_attempt_at=d.last_attempt_at, next_attempt_at=d.next_attempt_at,
                       last_status=d.last_status, last_error=d.last_error, last_ms=d.last_ms)


@api.route("GET", "/events", summary="Events after a cursor, oldest first (?after=<event id "
           "or cursor>&limit=1..100&enterprise_id=; an API key reads its own enterprise)",
           response=EventPageOut)
async def list_events(request: web.Request) -> web.Response:
    session = require_session(request)
    grant = request.get(API_KEY_KEY)
    enterprise_id = request.query.get("enterprise_id", "")[:32] or (
        grant.enterprise_id if grant else "")
    if not enterprise_id:
        raise InvalidInput("请提供 enterprise_id", code="invalid_input", field="enterprise_id")
    limit = bounded_int(request.query.get("limit"), "limit", default=EV.DEFAULT_PAGE,
                        minimum=1, maximum=EV.MAX_PAGE)
    types = frozenset(t for t in request.query.get("types", "")[:400].split(",") if t)
    page = await EV.list_events(request.app[DEPS], session.user_id, enterprise_id,
                                after=request.query.get("after", "")[:60], limit=limit,
                                types=types or None)
    return reply(EventPageOut(events=[EventOut(**e) for e in page.events],
                              next_cursor=page.next_cursor, has_more=page.has_more))


@api.route("GET", "/enterprises/{enterprise_id}/webhooks",
           summary="Webhook endpoints (enterprise.manage)", response=EndpointListOut)
async def list_webhooks(request: web.Request) -> web.Response:
    session = require_session(request)
    rows = await W.list_endpoints(request.app[DEPS], session.user_id,
                                  request.match_info["enterprise_id"])
    return reply(EndpointListOut(endpoints=[_endpoint(v) for v in rows]))


@api.route("POST", "/enterprises/{enterprise_id}/webhooks",
           summary="Add a webhook endpoint; the signing secret is in this answer only",
           body=EndpointIn, response=EndpointCreatedOut, status=201)
async def create_webhook(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, EndpointIn)
    made = await W.create_endpoint(request.app[DEPS], session.user_id,
                                   request.match_info["enterprise_id"], url=body.url,
                                   event_types=body.event_types, description=body.description,
                                   meta=request_meta(request))
    return reply(EndpointCreatedOut(endpoint=_endpoint(made.endpoint), secret=made.secret),
                 status=201)


@api.route("PATCH", "/enterprises/{enterprise_id}/webhooks/{webhook_id}",
           summary="Change a webhook endpoint (URL, event types, note, enabled)",
           body=EndpointPatchIn, response=EndpointOut)
async def patch_webhook(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, EndpointPatchIn)
    deps, ent = request.app[DEPS], request.match_info["enterprise_id"]
    current = await W.get_endpoint(deps, session.user_id, ent, request.match_info["webhook_id"])
    view = await W.update_endpoint(
        deps, session.user_id, ent, current.id,
        url=body.url if body.url is not None else current.url,
        event_types=body.event_types if body.event_types is not None else current.event_types,
        description=body.description if body.description is not None else current.description,
        enabled=body.enabled if body.enabled is not None else current.enabled,
        meta=request_meta(request))
    return reply(_endpoint(view))


@api.route("POST", "/enterprises/{enterprise_id}/webhooks/{webhook_id}/secret",
           summary="Replace the signing secret (the new one is in this answer only)",
           response=SecretOut)
async def rotate_webhook_secret(request: web.Request) -> web.Response:
    session = require_session(request)
    secret = await W.rotate_secret(request.app[DEPS], session.user_id,
                                   request.match_info["enterprise_id"],
                                   request.match_info["webhook_id"], request_meta(request))
    return reply(SecretOut(secret=secret))


@api.route("DELETE", "/enterprises/{enterprise_id}/webhooks/{webhook_id}",
           summary="Remove a webhook endpoint (its queued deliveries stop)", response=OkOut)
async def delete_webhook(request: web.Request) -> web.Response:
    session = require_session(request)
    await W.delete_endpoint(request.app[DEPS], session.user_id,
                            request.match_info["enterprise_id"],
                            request.match_info["webhook_id"], request_meta(request))
    return reply(OkOut())


@api.route("GET", "/enterprises/{enterprise_id}/webhook-deliveries",
           summary="The delivery log, newest first (?webhook_id=&status=&offset=&limit=)",
           response=DeliveryListOut)
async def list_deliveries(request: web.Request) -> web.Response:
    session = require_session(request)
    q = request.query
    rows = await W.list_deliveries(
        request.app[DEPS], session.user_id, request.match_info["enterprise_id"],
        endpoint_id=q.get("webhook_id") or None, status=q.get("status") or None,
        offset=bounded_int(q.get("offset"), "offset", default=0, maximum=100_000),
        limit=bounded_int(q.get("limit"), "limit", default=W.LOG_PAGE, minimum=1,
                          maximum=100))
    return reply(DeliveryListOut(deliveries=[_delivery(d) for d in rows]))


@api.route("POST", "/enterprises/{enterprise_id}/webhook-deliveries/{delivery_id}/redeliver",
           summary="Send a delivery again now, with a fresh set of tries",
           response=DeliveryOut)
async def redeliver(request: web.Request) -> web.Response:
    session = require_session(request)
    view = await W.redeliver(request.app[DEPS], session.user_id,
                             request.match_info["enterprise_id"],
                             request.match_info["delivery_id"], request_meta(request))
    return reply(_delivery(view))


# -- API keys: managed by a logged-in member only (an API key gets 403
# api_key_not_allowed here: core/integration/api_keys.py needed_scope) -----------------


@api.route("GET", "/enterprises/{enterprise_id}/api-keys",
           summary="API keys, live first (enterprise.manage; not with an API key)",
           response=ApiKeyListOut)
async def list_api_keys(request: web.Request) -> web.Response:
    session = require_session(request)
    rows = await K.list_keys(request.app[DEPS], session.user_id,
                             request.match_info["enterprise_id"])
    return reply(ApiKeyListOut(keys=[_key(k) for k in rows]))


@api.route("POST", "/enterprises/{enterprise_id}/api-keys",
           summary="Make an API key; the key is in this answer only (enterprise.manage; "
                   "not with an API key)", body=ApiKeyIn, response=ApiKeyCreatedOut,
           status=201)
async def create_api_key(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, ApiKeyIn)
    view, token = await K.create_key(request.app[DEPS], session.user_id,
                                     request.match_info["enterprise_id"], name=body.name,
                                     scope=body.scope, meta=request_meta(request))
    return reply(ApiKeyCreatedOut(key=_key(view), token=token), status=201)


@api.route("DELETE", "/enterprises/{enterprise_id}/api-keys/{key_id}",
           summary="Revoke an API key at once (enterprise.manage; not with an API key)",
           response=OkOut)
async def revoke_api_key(request: web.Request) -> web.Response:
    session = require_session(request)
    await K.revoke_key(request.app[DEPS], session.user_id,
                       request.match_info["enterprise_id"], request.match_info["key_id"],
                       request_meta(request))
    return reply(OkOut())
