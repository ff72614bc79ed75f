"""PC QR login pages (PRODUCT A2); the rules live in core/qr_login.py.

/login/qr?next=…         PC: the QR code; h5/static/qr-login.js polls and logs in by itself
/login/qr/status?t=…     PC: JSON {state, message} (only for the browser that made the code)
/login/qr/exchange       PC: POST t → session cookie, on to `next`
/login/qr/confirm?t=…    phone (logged in): "确认登录电脑端"; ?scene=… when scanned in WeChat
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from core import qr_login
from core.errors import DomainError
from core.qr import qr_svg
from core.validators import safe_next
from handlers.keys import DEPS, current_session
from handlers.middleware import set_session_cookie
from handlers.render import render
from handlers.util import form_data, request_meta

routes = web.RouteTableDef()
COOKIE_PATH = "/login/qr"


def _secure(request: web.Request) -> bool:
    return request.app[DEPS].config.server.base_url.startswith("https://")


@routes.get("/login/qr")
async def qr_page(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    next_path = safe_next(request.query.get("next"))
    if current_session(request) is not None:
        raise web.HTTPSeeOther(next_path)
    context: dict[str, Any] = {"next": next_path, "qr": None}
    try:
        started = await qr_login.start_qr_login(
            deps, next_path, request_meta(request),
            browser_secret=request.cookies.get(qr_login.COOKIE),
        )
    except DomainError as err:
        return render(request, "account/qr_login.html", {**context, "error": err},
                      status=err.status)
    confirm_url = deps.config.server.base_url.rstrip("/") + started.confirm_path
    context.update(
        qr=started, qr_svg=qr_svg(confirm_url, box_size=6), confirm_url=confirm_url,
        poll_seconds=qr_login.POLL_SECONDS, ttl_seconds=int(qr_login.TTL.total_seconds()),
    )
    response = render(request, "account/qr_login.html", context)
    response.set_cookie(
        qr_login.COOKIE, started.browser_secret, max_age=86400, httponly=True,
        samesite="Lax", path=COOKIE_PATH, secure=_secure(request),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/login/qr/status")
async def qr_status(request: web.Request) -> web.Response:
    try:
        status = await qr_login.qr_login_status(
            request.app[DEPS], request.query.get("t"), request.cookies.get(qr_login.COOKIE)
        )
    except DomainError as err:
        return web.json_response({"state": "error", "message": err.message, "code": err.code},
                                 status=err.status)
    return web.json_response({"state": status.state, "message": status.message},
                             headers={"Cache-Control": "no-store"})


@routes.post("/login/qr/exchange")
async def qr_exchange(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    data = await form_data(request)
    try:
        done = await qr_login.exchange_qr_login(
            deps, data.get("t"), request.cookies.get(qr_login.COOKIE), request_meta(request)
        )
    except DomainError as err:
        context = {"next": safe_next(data.get("next")), "qr": None, "error": err}
        return render(request, "account/qr_login.html", context, status=err.status)
    redirect = web.HTTPSeeOther(done.next_path)
    set_session_cookie(request, redirect, done.session.token, done.session.max_age)
    raise redirect


def _confirm_ref(values: Any) -> dict[str, str]:
    """The confirm page is reached with ?t= (QR code) or ?scene= (WeChat scan)."""
    if values.get("t"):
        return {"t": str(values.get("t"))[:100]}
    if values.get("scene"):
        return {"scene": str(values.get("scene"))[:64]}
    return {}


def _require_login(request: web.Request) -> str:
    session = current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe="/"))
    return session.user_id


@routes.get("/login/qr/confirm")
async def confirm_page(request: web.Request) -> web.Response:
    user_id = _require_login(request)
    ref = _confirm_ref(request.query)
    context: dict[str, Any] = {"ref": ref, "pc": None, "done": None}
    try:
        context["pc"] = await qr_login.view_qr_login(
            request.app[DEPS], user_id, token=ref.get("t"), scene=ref.get("scene")
        )
    except DomainError as err:
        return render(request, "account/qr_confirm.html", {**context, "error": err},
                      status=err.status)
    return render(request, "account/qr_confirm.html", context)


@routes.post("/login/qr/confirm")
async def confirm_submit(request: web.Request) -> web.Response:
    user_id = _require_login(request)
    data = await form_data(request)
    ref = _confirm_ref(data)
    approve = data.get("action") != "cancel"
    context: dict[str, Any] = {"ref": ref, "pc": None, "done": None}
    try:
        await qr_login.confirm_qr_login(
            request.app[DEPS], user_id, token=ref.get("t"), scene=ref.get("scene"),
            approve=approve, meta=request_meta(request),
        )
    except DomainError as err:
        return render(request, "account/qr_confirm.html", {**context, "error": err},
                      status=err.status)
    context["done"] = "approved" if approve else "cancelled"
    return render(request, "account/qr_confirm.html", context)
