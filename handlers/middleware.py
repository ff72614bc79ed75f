"""Request pipeline: errors (and the request log) → session, CSRF, security headers."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from core.errors import DomainError, InvalidInput, NotFound, PayloadTooLarge
from core.integration import api_keys
from core.sessions import CurrentSession, load_session
from handlers.api.registry import PREFIX
from handlers.csrf import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, csrf_valid
from handlers.keys import API_KEY_KEY, CSRF_COOKIE_KEY, DEPS, SESSION_KEY
from handlers.util import client_ip, is_loopback_client, read_form

log = logging.getLogger("laborsign.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION_COOKIE = "ls_session"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Machine-to-machine endpoints with their own authentication (signatures). The WeChat
# webhook is exactly /wechat: the H5 pages under /wechat/ (bind, unbind) need the token.
# /api/v1/verify is anonymous and changes nothing: no ambient authority to abuse.
CSRF_EXEMPT_PATHS = frozenset({"/wechat", "/api/v1/verify"})
# Endpoints called by other servers, not browsers: no session, CSRF or page headers.
MACHINE_PATHS = frozenset({"/wechat"})
CSRF_EXEMPT_PREFIXES = ("/tsa",)
# Dev pages and APIs (mounted in dev mode only) hand out SMS codes and captcha answers:
# they answer browsers on this machine only, and look absent to everyone else.
DEV_PREFIX = "/dev/"
# Requests slower than this are always logged.
SLOW_REQUEST_MS = 1000.0


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def error_response(request: web.Request, err: DomainError) -> web.StreamResponse:
    headers = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(err.retry_after)
    wants_json = (is_api(request) or request.path.startswith("/dev/api/")
                  or request.headers.get("Accept", "").startswith("application/json"))
    if wants_json:
        return web.json_response({"error": err.to_dict()}, status=err.status, headers=headers)
    from handlers.render import render  # local: render imports this module's siblings

    try:
        response = render(request, "error.html", {"error": err}, status=err.status)
    except Exception:  # a broken template must not turn an error page into a crash
        log.exception("error page failed to render")
        response = web.Response(text=err.message, status=err.status)
    response.headers.update(headers)
    return response


def _validation_error(exc: ValidationError) -> InvalidInput:
    errors = exc.errors()
    loc = errors[0]["loc"] if errors else ()
    field = ".".join(str(part) for part in loc if part != "body") or None
    return InvalidInput(f"请求参数不正确：{field}" if field else None, field=field)


def _http_error(exc: web.HTTPException) -> DomainError:
    if exc.status == 404:
        return NotFound()
    err = DomainError(
        "请求方式不被支持" if exc.status == 405 else "请求无法处理",
        code="method_not_allowed" if exc.status == 405 else "http_error",
    )
    err.status = exc.status
    return err


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
    except DomainError as err:
        response = error_response(request, err)
    except ValidationError as exc:
        response = error_response(request, _validation_error(exc))
    except web.HTTPRequestEntityTooLarge:
        response = error_response(request, PayloadTooLarge())
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(request, _http_error(exc))
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        internal = DomainError(code="internal_error")
        internal.status = 500
        response = error_response(request, internal)
    ms = (time.perf_counter() - started) * 1000
    # The webhook's routine deliveries are not logged: each message is already recorded
    # in wechat_inbound, and a line per message cost about a tenth of the webhook's time
    # under load (docs/benchmarks.md). Its refusals, failures and slow answers are.
    level = (logging.DEBUG if request.path in MACHINE_PATHS and response.status < 400
             and ms < SLOW_REQUEST_MS else logging.INFO)
    if log.isEnabledFor(level):
        log.log(level, "request", extra={"method": request.method, "path": request.path,
                                         "status": response.status, "ms": round(ms, 1)})
    return response


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
}


def bearer_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip()
    return None


def _is_dev_path(request: web.Request) -> bool:
    # The matched route too, in case a path spelling reaches a dev route another way.
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else ""
    return request.path.startswith(DEV_PREFIX) or canonical.startswith(DEV_PREFIX)


def _csrf_required(request: web.Request) -> bool:
    if request.method not in UNSAFE or request.path in CSRF_EXEMPT_PATHS:
        return False
    if request.path.startswith(CSRF_EXEMPT_PREFIXES):
        return False
    if bearer_token(request):
        return False
    if is_api(request) and not request.cookies:
        # No ambient credentials to abuse. Cross-site pages can only send JSON after a
        # CORS preflight we never grant, so insist on JSON (uploads use multipart + token).
        return not request.content_type.startswith("application/json")
    return True


async def _check_csrf(request: web.Request) -> None:
    if not _csrf_required(request):
        return
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        # The one form reader: a malformed body is a 400 here too, and the handler
        # gets the same parsed form without reading the body again.
        supplied = (await read_form(request)).get(CSRF_FIELD)
    if not csrf_valid(request, supplied if isinstance(supplied, str) else None):
        raise DomainError("页面已过期，请刷新后重试", code="csrf_failed") from None


async def _api_key_session(request: web.Request, token: str) -> CurrentSession | None:
    """The session of a request made with an API key: its maker, limited to the key's
    scope and enterprise (core/integration/api_keys.py). Keys work on the JSON API only."""
    if not is_api(request):
        return None
    deps = request.app[DEPS]
    grant = await api_keys.authenticate(deps, token, client_ip(request))
    if grant is None:
        return None
    request[API_KEY_KEY] = grant
    resource = request.match_info.route.resource
    if resource is not None and resource.canonical.startswith(PREFIX):
        path = resource.canonical[len(PREFIX):]
        enterprise_id = request.match_info.get("enterprise_id")
        if path == "/events":
            enterprise_id = request.query.get("enterprise_id") or grant.enterprise_id
        elif path == "/contracts" and request.method == "POST":
            form = await read_form(request)
            value = form.get("enterprise_id")
            enterprise_id = value if isinstance(value, str) else ""
        api_keys.check_call(grant, request.method, path, enterprise_id)
        contract_id = request.match_info.get("id")
        if path.startswith("/contracts/{id}") and contract_id and \
                await api_keys.contract_enterprise(deps, contract_id) != grant.enterprise_id:
            raise NotFound("合同不存在", code="contract_not_found")
    return CurrentSession(f"apikey:{grant.key_id}", grant.user_id, "", "api_key")


def _set_csrf_cookie(request: web.Request, response: web.StreamResponse) -> None:
    seed = request.get(CSRF_COOKIE_KEY)
    if seed and request.cookies.get(CSRF_COOKIE) != seed:
        response.set_cookie(
            CSRF_COOKIE, seed, httponly=True, samesite="Lax", path="/",
            secure=request.app[DEPS].config.server.base_url.startswith("https://"),
        )


@web.middleware
async def browser_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Session, CSRF and security headers: what pages and the API need.

    One middleware, not three nested ones: every request pays for each layer. Machine
    endpoints (MACHINE_PATHS: the WeChat webhook, authenticated by WeChat's signature,
    answered in XML to WeChat's servers) carry no cookies and render no page, and skip
    all of it.
    """
    if request.path in MACHINE_PATHS:
        return await handler(request)
    if _is_dev_path(request) and not is_loopback_client(request):
        raise NotFound()
    bearer = bearer_token(request)
    if bearer and api_keys.is_api_key(bearer):
        request[SESSION_KEY] = await _api_key_session(request, bearer)
    else:
        token = bearer or request.cookies.get(SESSION_COOKIE)
        request[SESSION_KEY] = await load_session(request.app[DEPS], token) if token else None
    await _check_csrf(request)
    response = await handler(request)
    _set_csrf_cookie(request, response)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def set_session_cookie(
    request: web.Request, response: web.StreamResponse, token: str, max_age: int
) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="Lax", path="/",
        secure=request.app[DEPS].config.server.base_url.startswith("https://"),
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")
