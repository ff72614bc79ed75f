"""Console settings for integration: webhook endpoints with their delivery log, API keys."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import DomainError
from core.integration import api_keys as K
from core.integration import events as EV
from core.integration import webhooks as W
from handlers.console.enterprise import enterprise_page_context
from handlers.console.forms import deps_of, ent_of, form_of, go_to, refused, text_of, uid_of
from handlers.render import render
from handlers.util import bounded_int, request_meta

routes = web.RouteTableDef()


async def _webhooks_page(request: web.Request, error: DomainError | None = None,
                         created: W.CreatedEndpoint | None = None,
                         secret: str | None = None, form: dict[str, Any] | None = None
                         ) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "settings")
    q = request.query
    status = q.get("status", "")
    endpoint = q.get("endpoint", "")[:32]
    page = bounded_int(q.get("page"), "page", default=1, minimum=1, maximum=1000)
    endpoints = await W.list_endpoints(deps, uid, ent)
    deliveries = await W.list_deliveries(
        deps, uid, ent, endpoint_id=endpoint or None, status=status or None,
        offset=(page - 1) * W.LOG_PAGE, limit=W.LOG_PAGE)
    return render(request, "console/webhooks.html", {
        **ctx, "endpoints": endpoints, "deliveries": deliveries, "event_types": EV.EVENT_TYPES,
        "status_labels": W.STATUS_LABELS, "filters": {"status": status, "endpoint": endpoint},
        "page": page, "more": len(deliveries) == W.LOG_PAGE, "created": created,
        "secret": secret, "form": form or {}, "error": error,
        "dev_mode": deps.config.server.dev_mode,
    })


@routes.get("/console/e/{ent}/settings/webhooks")
async def webhooks_page(request: web.Request) -> web.Response:
    return await _webhooks_page(request)


@routes.post("/console/e/{ent}/settings/webhooks")
async def webhooks_save(request: web.Request) -> web.Response:
    uid, deps, ent, meta = uid_of(request), deps_of(request), ent_of(request), request_meta(request)
    form = await form_of(request)
    action = text_of(form, "action")
    endpoint_id = text_of(form, "endpoint_id")
    types = [t for t in form.getall("event_types", []) if isinstance(t, str)]
    typed: dict[str, Any] = {"url": text_of(form, "url"),
                             "description": text_of(form, "description"), "event_types": types}
    try:
        if action == "create":
            made = await W.create_endpoint(deps, uid, ent, url=text_of(form, "url"),
                                           event_types=types,
                                           description=text_of(form, "description"), meta=meta)
            # The secret is shown on this answer only (no redirect carries it).
            return await _webhooks_page(request, created=made, secret=made.secret)
        if action == "delete":
            await W.delete_endpoint(deps, uid, ent, endpoint_id, meta)
            raise go_to(f"/console/e/{ent}/settings/webhooks", "removed")
        if action in ("enable", "disable"):
            current = await W.get_endpoint(deps, uid, ent, endpoint_id)
            await W.update_endpoint(deps, uid, ent, endpoint_id, url=current.url,
                                    event_types=current.event_types,
                                    description=current.description,
                                    enabled=action == "enable", meta=meta)
            raise go_to(f"/console/e/{ent}/settings/webhooks", "saved")
        if action == "rotate":
            secret = await W.rotate_secret(deps, uid, ent, endpoint_id, meta)
            return await _webhooks_page(request, secret=secret)
        if action == "redeliver":
            await W.redeliver(deps, uid, ent, text_of(form, "delivery_id"), meta)
            raise go_to(f"/console/e/{ent}/settings/webhooks", "redelivered")
    except DomainError as err:
        return await refused(request, _webhooks_page, err, form=typed)
    raise go_to(f"/console/e/{ent}/settings/webhooks")


async def _keys_page(request: web.Request, error: DomainError | None = None,
                     token: str | None = None, form: dict[str, str] | None = None
                     ) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "settings")
    return render(request, "console/api_keys.html", {
        **ctx, "keys": await K.list_keys(deps, uid, ent), "scopes": K.SCOPES, "token": token,
        "form": form or {}, "error": error,
    })


@routes.get("/console/e/{ent}/settings/api-keys")
async def keys_page(request: web.Request) -> web.Response:
    return await _keys_page(request)


@routes.post("/console/e/{ent}/settings/api-keys")
async def keys_save(request: web.Request) -> web.Response:
    uid, deps, ent, meta = uid_of(request), deps_of(request), ent_of(request), request_meta(request)
    form = await form_of(request)
    typed = {"name": text_of(form, "name"), "scope": text_of(form, "scope")}
    try:
        if text_of(form, "action") == "revoke":
            await K.revoke_key(deps, uid, ent, text_of(form, "key_id"), meta)
            raise go_to(f"/console/e/{ent}/settings/api-keys", "key_revoked")
        _view, token = await K.create_key(deps, uid, ent, name=typed["name"],
                                          scope=typed["scope"], meta=meta)
    except DomainError as err:
        return await refused(request, _keys_page, err, form=typed)
    return await _keys_page(request, token=token)
