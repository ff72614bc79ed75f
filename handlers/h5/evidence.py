"""Evidence pages on the phone: the signing disclosure (告知) before a first signing, the
trail (签署轨迹) with the evidence downloads, and the paper-copy request."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from core.contracts import disclosure, evidence, paper_copies, trail
from core.contracts.evidence import Download
from core.errors import DomainError
from handlers.h5.contracts import _cid, _login_first, local_time
from handlers.keys import DEPS
from handlers.render import render
from handlers.util import form_data, request_meta

routes = web.RouteTableDef()


def attachment(doc: Download, content_type: str) -> web.Response:
    return web.Response(
        body=doc.data, content_type=content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(doc.filename)}",
            "Cache-Control": "private, no-store",
            "X-Content-SHA256": doc.sha256,
        },
    )


@routes.get("/contracts/{id}/disclosure")
async def disclosure_page(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    view = await disclosure.show(request.app[DEPS], user_id, _cid(request),
                                 request_meta(request))
    return render(request, "contracts/disclosure.html",
                  {"d": view, "contract_id": _cid(request), "when": local_time})


@routes.post("/contracts/{id}/disclosure")
async def disclosure_accept(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    form = await form_data(request)
    if form.get("agree") != "1":
        view = await disclosure.show(request.app[DEPS], user_id, _cid(request),
                                     request_meta(request))
        return render(request, "contracts/disclosure.html",
                      {"d": view, "contract_id": _cid(request), "when": local_time,
                       "error": "请勾选“我已阅读并知悉”后再继续"}, status=400)
    await disclosure.accept(request.app[DEPS], user_id, _cid(request), request_meta(request))
    raise web.HTTPSeeOther(f"/contracts/{_cid(request)}/sign")


async def _trail_context(request: web.Request, user_id: str) -> dict[str, object]:
    deps = request.app[DEPS]
    t = await trail.load_trail(deps, user_id, _cid(request))
    mine = await paper_copies.my_request(deps, user_id, t.contract_id)
    may_ask = mine is None and await paper_copies.may_request(deps, user_id, t.contract_id)
    return {"t": t, "when": local_time, "paper": mine, "can_request_paper": may_ask,
            "notice": {"paper": "已提交纸质副本申请，企业盖章后会通知您"}.get(
                request.query.get("done", ""))}


@routes.get("/contracts/{id}/trail")
async def trail_page(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    ctx = await _trail_context(request, user_id)
    return render(request, "contracts/trail.html", ctx)


@routes.get("/contracts/{id}/evidence-report.pdf")
async def report_download(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    doc = await evidence.report(request.app[DEPS], user_id, _cid(request))
    return attachment(doc, "application/pdf")


@routes.get("/contracts/{id}/evidence.zip")
async def package_download(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    doc = await evidence.package(request.app[DEPS], user_id, _cid(request))
    return attachment(doc, "application/zip")


@routes.post("/contracts/{id}/paper-copy")
async def paper_copy(request: web.Request) -> web.Response:
    user_id = _login_first(request)
    form = await form_data(request)
    try:
        await paper_copies.request_copy(request.app[DEPS], user_id, _cid(request),
                                        form.get("note", ""), request_meta(request))
    except DomainError as exc:
        ctx = await _trail_context(request, user_id)
        return render(request, "contracts/trail.html", {**ctx, "error": exc},
                      status=exc.status)
    raise web.HTTPSeeOther(f"/contracts/{_cid(request)}/trail?done=paper#paper")
