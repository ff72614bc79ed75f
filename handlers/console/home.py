"""My enterprises: the console's start, joining an enterprise, admin appeals."""

from __future__ import annotations

from aiohttp import web

from core.enterprise import admin_change as A
from core.enterprise import certification as C
from core.enterprise import members as M
from core.errors import DomainError
from handlers.console.forms import (
    deps_of,
    ent_of,
    form_of,
    go_to,
    notice_of,
    refused,
    text_of,
    uid_of,
)
from handlers.render import render
from handlers.util import request_meta

routes = web.RouteTableDef()


# ================================================================ my enterprises


@routes.get("/console")
async def home(request: web.Request) -> web.Response:
    return await _home(request)


async def _home(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid = uid_of(request)
    deps = deps_of(request)
    mine, joined = await C.my_enterprises(deps, uid)
    return render(request, "console/home.html", {
        "mine": mine, "joined": joined, "requests": await M.my_join_requests(deps, uid),
        "appeals": await A.my_appeals(deps, uid), "notice": notice_of(request), "error": error,
    })



# ================================================================ join / appeal


async def _join_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid = uid_of(request)
    q = request.query.get("q", "")[:60]
    hits = await M.search_enterprises(deps_of(request), uid, q) if q else []
    return render(request, "console/join.html", {"q": q, "hits": hits, "error": error,
                                                 "notice": notice_of(request)})


@routes.get("/console/join")
async def join_page(request: web.Request) -> web.Response:
    return await _join_page(request)


@routes.post("/console/join/{ent}")
async def join_request(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    try:
        await M.request_join(deps_of(request), uid, ent_of(request), text_of(form, "reason"),
                             request_meta(request))
    except DomainError as err:
        return await refused(request, _join_page, err)
    raise go_to("/console", "joined")


@routes.post("/console/join-requests/{id}/revoke")
async def join_revoke(request: web.Request) -> web.Response:
    uid = uid_of(request)
    try:
        await M.revoke_join(deps_of(request), uid, request.match_info["id"], request_meta(request))
    except DomainError as err:
        return await refused(request, _home, err)
    raise go_to("/console", "join_revoked")


@routes.post("/console/appeal/{ent}")
async def appeal_start(request: web.Request) -> web.Response:
    uid = uid_of(request)
    try:
        await A.start_appeal(deps_of(request), uid, ent_of(request), request_meta(request))
    except DomainError as err:
        return await refused(request, _join_page, err)
    raise go_to(f"/console/appeal/{ent_of(request)}", "appeal")
