"""H5 inside WeChat (PRODUCT D4, A2): OAuth login, binding, unbinding, JS-SDK config.

/wechat/oauth/start?next=…  → WeChat's authorize page (snsapi_base, state in a signed cookie)
/wechat/oauth/callback      → bound openid: logged in (session method "wechat");
                              not bound: openid kept in a signed cookie, on to `next`
/wechat/bind                → page: log in / register, then POST binds the remembered openid
/wechat/unbind              → POST from the profile (snippet h5/templates/wechat/_binding.html)
/wechat/jssdk?url=…         → wx.config values for one of our pages
The webhook itself (/wechat) lives in bot/.
"""

from __future__ import annotations

from aiohttp import web

from core.errors import DomainError
from core.validators import safe_next
from core.wechat import accounts as wechat
from core.wechat.credentials import jssdk_config
from handlers.keys import DEPS, current_session
from handlers.middleware import set_session_cookie
from handlers.render import render
from handlers.util import form_data, request_meta, require_session

routes = web.RouteTableDef()


def _secure(request: web.Request) -> bool:
    return request.app[DEPS].config.server.base_url.startswith("https://")


def _callback_url(request: web.Request) -> str:
    deps = request.app[DEPS]
    if deps.config.server.dev_mode:
        # The dev authorize page redirects within whatever host the browser uses.
        return "/wechat/oauth/callback"
    return deps.config.server.base_url.rstrip("/") + "/wechat/oauth/callback"


@routes.get("/wechat/oauth/start")
async def oauth_start(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    start = wechat.oauth_start(deps, request.query.get("next"), _callback_url(request))
    response = web.HTTPFound(start.authorize_url)
    response.set_cookie(
        wechat.OAUTH_STATE_COOKIE, start.state_cookie, max_age=wechat.OAUTH_STATE_TTL,
        httponly=True, samesite="Lax", path="/wechat/oauth", secure=_secure(request),
    )
    raise response


@routes.get("/wechat/oauth/callback")
async def oauth_callback(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    outcome = await wechat.oauth_complete(
        deps, request.query.get("code"), request.query.get("state"),
        request.cookies.get(wechat.OAUTH_STATE_COOKIE), request_meta(request),
    )
    response = web.HTTPSeeOther(outcome.next_path)
    response.del_cookie(wechat.OAUTH_STATE_COOKIE, path="/wechat/oauth")
    if outcome.session is not None:
        set_session_cookie(request, response, outcome.session.token, outcome.session.max_age)
    if outcome.openid_cookie is not None:
        response.set_cookie(
            wechat.OPENID_COOKIE, outcome.openid_cookie, max_age=wechat.OPENID_COOKIE_TTL,
            httponly=True, samesite="Lax", path="/", secure=_secure(request),
        )
    raise response


async def _bind_context(request: web.Request) -> dict[str, object]:
    deps = request.app[DEPS]
    session = current_session(request)
    return {
        "logged_in": session is not None,
        "bound_openid": (
            await wechat.openid_for_user(deps, session.user_id) if session else None
        ),
        "pending_openid": wechat.remembered_openid(
            deps, request.cookies.get(wechat.OPENID_COOKIE)
        ),
        "notice": None,
    }


BOUND_NOTICE = "绑定成功！回到公众号即可查看待签署的合同"


@routes.get("/wechat/bind")
async def bind_page(request: web.Request) -> web.Response:
    """Opened after log-in / register from the official account: binds at once when the
    account has no WeChat yet (the openid is ours, from the signed OAuth cookie, so a
    link from elsewhere cannot bind a stranger's WeChat); replacing a binding still asks."""
    context = await _bind_context(request)
    if request.query.get("done") == "unbound":
        context["notice"] = "已解除微信绑定"
    session = current_session(request)
    openid = context["pending_openid"]
    if session is None or not isinstance(openid, str) or context["bound_openid"]:
        return render(request, "wechat/bind.html", context)
    try:
        bound = await wechat.auto_bind(request.app[DEPS], session.user_id, openid,
                                       request_meta(request))
    except DomainError as err:
        context["error"] = err
        return render(request, "wechat/bind.html", context, status=err.status)
    if bound:
        context.update(bound_openid=openid, pending_openid=None, notice=BOUND_NOTICE)
    response = render(request, "wechat/bind.html", context)
    if bound:
        response.del_cookie(wechat.OPENID_COOKIE, path="/")
    return response


@routes.post("/wechat/bind")
async def bind_submit(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    session = require_session(request)
    openid = wechat.remembered_openid(deps, request.cookies.get(wechat.OPENID_COOKIE))
    if openid is None:
        context = await _bind_context(request)
        context["error"] = "请从公众号的消息或菜单中重新打开本页面"
        return render(request, "wechat/bind.html", context, status=400)
    try:
        await wechat.bind_openid(deps, session.user_id, openid, request_meta(request))
    except DomainError as err:
        context = await _bind_context(request)
        context["error"] = err
        return render(request, "wechat/bind.html", context, status=err.status)
    context = await _bind_context(request)
    context["notice"] = BOUND_NOTICE
    context["pending_openid"] = None
    response = render(request, "wechat/bind.html", context)
    response.del_cookie(wechat.OPENID_COOKIE, path="/")
    return response


@routes.post("/wechat/unbind")
async def unbind_submit(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    session = require_session(request)
    data = await form_data(request)
    await wechat.unbind_wechat(deps, session.user_id, request_meta(request))
    target = safe_next(data.get("next"), "/wechat/bind?done=unbound")
    raise web.HTTPSeeOther(target)


@routes.get("/wechat/jssdk")
async def jssdk(request: web.Request) -> web.Response:
    try:
        values = await jssdk_config(request.app[DEPS], request.query.get("url", ""))
    except DomainError as err:
        return web.json_response({"error": err.to_dict()}, status=err.status)
    return web.json_response(values, headers={"Cache-Control": "no-store"})
