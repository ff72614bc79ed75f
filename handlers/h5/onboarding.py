"""Onboarding by QR code (PRODUCT B5, E4); the rules live in core/enterprise/onboarding_qr.py.

/onboarding/join?scene=…              worker (logged in): the enterprise's onboarding form;
                                      not verified → /identity?next=… and back here
/onboarding/join  POST                → pending review, then back to the page (done state)
/console/e/{ent}/employees/qr         HR: the printable poster (link QR + WeChat QR)
/console/e/{ent}/employees/qr  POST   HR: action=reset → new code, the old one stops working
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from core.enterprise import employees as E
from core.enterprise import onboarding_qr as OQ
from core.errors import DomainError, InvalidInput
from core.qr import qr_svg
from core.templates import onboarding as template_onboarding
from core.templates import service as template_service
from handlers.keys import DEPS, current_session
from handlers.middleware import SECURITY_HEADERS
from handlers.render import render
from handlers.util import form_data, request_meta

routes = web.RouteTableDef()

# Typed values echoed back after a refusal: never the bank card number.
ECHO = tuple(k for k in E.FIELDS if k not in OQ.FROM_ACCOUNT and k != "bank_card")
WECHAT_QR_ORIGIN = "https://mp.weixin.qq.com"
# The page policy, with the official account's QR image (served by WeChat) allowed.
POSTER_CSP = SECURITY_HEADERS["Content-Security-Policy"].replace(
    "img-src 'self' data: blob:", f"img-src 'self' data: blob: {WECHAT_QR_ORIGIN}")


def _login_redirect(path_qs: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther("/login?next=" + quote(path_qs, safe="/"))


def _join_path(token: str) -> str:
    return f"{OQ.JOIN_PATH}?scene={quote(token, safe='')}"


# ---------------------------------------------------------------- worker


async def _join_page(request: web.Request, user_id: str, token: str,
                     error: DomainError | None = None,
                     values: dict[str, str] | None = None) -> web.Response:
    context: dict[str, Any] = {"f": None, "values": values or {}, "error": error,
                               "submitted": request.query.get("ok") == "1"}
    try:
        form = await OQ.join_form(request.app[DEPS], user_id, token)
    except DomainError as err:
        context["error"] = err
        return render(request, "onboarding/join.html", context, status=err.status)
    context.update(f=form, identity_link="/identity?next=" + quote(_join_path(form.token),
                                                                   safe="/"))
    response = render(request, "onboarding/join.html", context,
                      status=error.status if error else 200)
    # The scene token is in this page's URL: keep it out of Referer headers.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.get(OQ.JOIN_PATH)
async def join_page(request: web.Request) -> web.Response:
    session = current_session(request)
    if session is None:
        raise _login_redirect(request.path_qs)
    return await _join_page(request, session.user_id, request.query.get("scene", "")[:64])


@routes.post(OQ.JOIN_PATH)
async def join_submit(request: web.Request) -> web.Response:
    data = await form_data(request)
    token = data.get("scene", "")[:64]
    session = current_session(request)
    if session is None:
        raise _login_redirect(_join_path(token))
    try:
        await OQ.self_onboard(request.app[DEPS], session.user_id, token,
                              {k: data[k] for k in E.FIELDS if k in data},
                              request_meta(request))
    except DomainError as err:
        values = {k: data.get(k, "")[:100] for k in ECHO}
        return await _join_page(request, session.user_id, token, error=err, values=values)
    raise web.HTTPSeeOther(_join_path(token) + "&ok=1")


# ---------------------------------------------------------------- HR poster


async def _poster_page(request: web.Request, error: DomainError | None = None
                       ) -> web.Response:
    session = current_session(request)
    if session is None:
        raise _login_redirect(request.path_qs)
    deps, ent = request.app[DEPS], request.match_info["ent"]
    poster = await OQ.onboarding_poster(deps, session.user_id, ent, request_meta(request))
    # E4: the template the QR carries (HR who may also send contracts picks it).
    try:
        published = await template_service.list_templates(deps, session.user_id, ent,
                                                          published_only=True)
        carried = await template_onboarding.current(deps, session.user_id, ent)
    except DomainError:
        published, carried = [], None
    notices = {"reset": "已重置，旧二维码已失效", "template": "已保存入职合同模板"}
    response = render(request, "onboarding/poster.html", {
        "p": poster, "ent_id": ent, "qr": qr_svg(poster.join_url, box_size=8),
        "notice": notices.get(request.query.get("ok", "")), "error": error,
        "templates": published, "carried": carried,
    }, status=error.status if error else 200)
    response.headers["Cache-Control"] = "no-store"
    if poster.wechat_qr_url:
        response.headers["Content-Security-Policy"] = POSTER_CSP
    return response


@routes.get("/console/e/{ent}/employees/qr")
async def poster_page(request: web.Request) -> web.Response:
    return await _poster_page(request)


@routes.post("/console/e/{ent}/employees/qr")
async def poster_action(request: web.Request) -> web.Response:
    session = current_session(request)
    if session is None:
        raise _login_redirect(request.path)
    data = await form_data(request)
    ent = request.match_info["ent"]
    try:
        if data.get("action") == "template":
            await template_onboarding.set_template(
                request.app[DEPS], session.user_id, ent, (data.get("template_id") or "")[:32],
                request_meta(request))
            raise web.HTTPSeeOther(f"/console/e/{ent}/employees/qr?ok=template")
        if data.get("action") != "reset":
            raise InvalidInput("未知操作", code="invalid_action")
        await OQ.reset_onboarding_poster(request.app[DEPS], session.user_id, ent,
                                         request_meta(request))
    except DomainError as err:
        return await _poster_page(request, error=err)
    raise web.HTTPSeeOther(f"/console/e/{ent}/employees/qr?ok=reset")
