"""The WeChat chat simulator (PRODUCT D5), dev mode only.

/dev/wechat                  the phone-sized chat page
/dev/api/wechat/send         JSON {openid, action, value, encrypted} → real signed XML to /wechat
/dev/api/wechat/messages     custom/template messages the console client 'sent' to an openid
/dev/api/wechat/scene        JSON {kind, enterprise_name} → a scene token to scan
/dev/wechat/authorize        stands in for open.weixin.qq.com's silent snsapi_base page
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from aiohttp import web

from core.devtools import dev_onboarding_poster
from core.errors import Conflict, InvalidInput
from core.wechat import sim as wechat_sim
from core.wechat.inbox import known_openids
from core.wechat.menu import menu_items
from core.wechat.scenes import SCENE_KINDS, create_scene, recent_scenes
from handlers.keys import DEPS
from handlers.render import render
from handlers.util import json_body

routes = web.RouteTableDef()
SIM_COOKIE = "ls_sim_openid"


def _webhook_url(request: web.Request) -> str:
    """The webhook of this very server, over loopback (whatever port we listen on)."""
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    host, port = "127.0.0.1", request.app[DEPS].config.server.port
    if isinstance(sock, tuple) and len(sock) >= 2:
        port = sock[1]
        if sock[0] not in ("0.0.0.0", "::", ""):  # noqa: S104
            host = sock[0]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/wechat"


@routes.get("/dev/wechat")
async def simulator_page(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    return render(
        request, "dev/wechat.html",
        {
            "menu": menu_items(deps.config.wechat.menu_json),
            "openids": await known_openids(deps),
            "current": request.cookies.get(SIM_COOKIE, ""),
            "scene_kinds": list(SCENE_KINDS),
        },
    )


@routes.post("/dev/api/wechat/send")
async def simulator_send(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    body = await json_body(request)
    openid = str(body.get("openid", ""))
    reply = await wechat_sim.send(
        deps, _webhook_url(request), openid, str(body.get("action", "")),
        str(body.get("value", "")), encrypted=bool(body.get("encrypted")),
    )
    response = web.json_response(
        {"status": reply.status, "reply": reply.text, "encrypted": reply.encrypted}
    )
    # The dev authorize page answers OAuth for the openid you are playing.
    response.set_cookie(SIM_COOKIE, openid.strip(), httponly=True, samesite="Lax", path="/")
    return response


@routes.get("/dev/api/wechat/messages")
async def simulator_messages(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    openid = request.query.get("openid", "")
    return web.json_response(
        {"messages": await wechat_sim.console_messages(deps, openid) if openid else []}
    )


@routes.get("/dev/api/wechat/scenes")
async def simulator_scenes(request: web.Request) -> web.Response:
    return web.json_response({"scenes": await recent_scenes(request.app[DEPS])})


@routes.post("/dev/api/wechat/scene")
async def simulator_new_scene(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    body = await json_body(request)
    kind = str(body.get("kind", ""))
    if kind == "onboarding":
        # the real poster of a certified enterprise, so the bot's link opens a working page
        poster = await dev_onboarding_poster(deps)
        if poster is None:
            raise Conflict("还没有已认证的企业：先运行 laborsign demo 或在控制台完成企业认证",
                           code="no_certified_enterprise")
        return web.json_response({"token": poster.token, "kind": kind,
                                  "expires_at": poster.expires_at.isoformat()})
    ticket = await create_scene(deps, kind, {})
    return web.json_response(
        {"token": ticket.token, "kind": ticket.kind, "expires_at": ticket.expires_at.isoformat()}
    )


@routes.get("/dev/wechat/authorize")
async def dev_authorize(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    redirect_uri = request.query.get("redirect_uri", "")
    state = request.query.get("state", "")
    target = urlsplit(redirect_uri)
    if target.path != "/wechat/oauth/callback" or (
        target.netloc and target.netloc != urlsplit(deps.config.server.base_url).netloc
    ):
        raise InvalidInput("redirect_uri 不是本站的回调地址", code="sim_redirect")
    openid = request.query.get("openid") or request.cookies.get(SIM_COOKIE, "")
    if not openid:
        return render(
            request, "dev/wechat_authorize.html",
            {"redirect_uri": redirect_uri, "state": state,
             "openids": [o for o, _ in await known_openids(deps)]},
        )
    code = wechat_sim.dev_oauth_code(deps, openid)
    raise web.HTTPFound(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")
