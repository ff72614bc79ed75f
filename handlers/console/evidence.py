"""Evidence in the HR console: a contract's trail (签署轨迹) with its downloads, the
workers' paper-copy requests (纸质副本) and batch evidence downloads."""

from __future__ import annotations

from aiohttp import web

from core.contracts import evidence, paper_copies, trail
from core.errors import DomainError
from handlers.console.enterprise import console_context, enterprise_page_context
from handlers.console.forms import deps_of, ent_of, form_of, go_to, text_of, uid_of
from handlers.h5.contracts import local_time
from handlers.h5.evidence import attachment
from handlers.render import render
from handlers.util import request_meta

routes = web.RouteTableDef()

NOTICES = {"paper_updated": "已更新纸质副本状态",
           "export_queued": "已开始打包，完成后会通知您，也可刷新本页查看"}


@routes.get("/console/contracts/{id}/trail")
async def trail_page(request: web.Request) -> web.Response:
    uid = uid_of(request)
    t = await trail.load_trail(deps_of(request), uid, request.match_info["id"])
    ctx = await console_context(request, t.enterprise_id, "contracts")
    return render(request, "console/contract_trail.html", {**ctx, "t": t, "when": local_time})


async def _paper_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    ctx = await enterprise_page_context(request, "contracts")
    which = request.query.get("state", "open")
    which = which if which in paper_copies.FILTERS else "open"
    items = await paper_copies.list_requests(deps_of(request), uid_of(request),
                                             ent_of(request), which)
    notice = NOTICES.get(request.query.get("ok", ""))
    return render(request, "console/paper_copies.html", {
        **ctx, "items": items, "which": which, "filters": paper_copies.FILTERS,
        "error": error, **({"notice": notice} if notice else {})},
        status=error.status if error else 200)


@routes.get("/console/e/{ent}/paper-copies")
async def paper_page(request: web.Request) -> web.Response:
    return await _paper_page(request)


@routes.post("/console/e/{ent}/paper-copies/{rid}")
async def paper_advance(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    try:
        await paper_copies.advance(deps_of(request), uid, request.match_info["rid"],
                                   text_of(form, "state"), request_meta(request))
    except DomainError as exc:
        return await _paper_page(request, exc)
    raise go_to(f"/console/e/{ent_of(request)}/paper-copies", "paper_updated")


async def _exports_page(request: web.Request, error: DomainError | None = None
                        ) -> web.Response:
    ctx = await enterprise_page_context(request, "contracts")
    items = await evidence.list_exports(deps_of(request), uid_of(request), ent_of(request))
    notice = NOTICES.get(request.query.get("ok", ""))
    return render(request, "console/exports.html", {
        **ctx, "items": items, "error": error, "max": evidence.MAX_EXPORT_CONTRACTS,
        **({"notice": notice} if notice else {})}, status=error.status if error else 200)


@routes.get("/console/e/{ent}/exports")
async def exports_page(request: web.Request) -> web.Response:
    return await _exports_page(request)


@routes.post("/console/e/{ent}/exports")
async def exports_create(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    # The contract list's selection (`ids`, shared with urge and revoke) or `contract_id`.
    ids = [v for key in ("ids", "contract_id") for v in form.getall(key, [])
           if isinstance(v, str)]
    try:
        await evidence.request_export(deps_of(request), uid, ent_of(request),
                                      ids[:evidence.MAX_EXPORT_CONTRACTS + 1])
    except DomainError as exc:
        return await _exports_page(request, exc)
    raise go_to(f"/console/e/{ent_of(request)}/exports", "export_queued")


@routes.get("/console/exports/{id}/download")
async def export_download(request: web.Request) -> web.Response:
    doc = await evidence.export_download(deps_of(request), uid_of(request),
                                         request.match_info["id"])
    return attachment(doc, "application/zip")
