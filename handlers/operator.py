"""Platform operator console under /operator: proof alerts, letters, appeals, credit-code
checks, lookup."""

from __future__ import annotations

from aiohttp import web

from core.enterprise import admin_change as A
from core.enterprise import certification as C
from core.enterprise import operators as O
from core.enterprise import proofs
from core.enterprise.operators import is_operator
from core.enterprise.payment import dev_transfers
from core.errors import DomainError, NotFound
from handlers.console.forms import form_of, go_to, notice_of, text_of, uid_of
from handlers.keys import DEPS
from handlers.render import render
from handlers.util import request_meta

routes = web.RouteTableDef()
dev_routes = web.RouteTableDef()


async def _operator(request: web.Request) -> str:
    uid = uid_of(request)
    if not await is_operator(request.app[DEPS], uid):
        raise NotFound()  # the console's existence is not advertised
    return uid


async def _page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid = await _operator(request)
    deps = request.app[DEPS]
    q = request.query.get("q", "")[:60]
    return render(request, "operator/home.html", {
        "letters": await C.pending_letters(deps, uid),
        "code_checks": await C.operator_search(deps, uid, only_code_check=True),
        "found": await C.operator_search(deps, uid, q) if q else [],
        "changes": await A.admin_changes(deps, uid, 20), "q": q,
        "alerts": await proofs.recent_alerts(deps, uid),
        "methods": C.METHODS, "error": error, "notice": notice_of(request),
    })


@routes.get("/operator")
async def home(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post("/operator/attempts/{id}")
async def review(request: web.Request) -> web.Response:
    uid = await _operator(request)
    form = await form_of(request)
    approve = text_of(form, "decision") == "approve"
    try:
        await C.review_letter(request.app[DEPS], uid, request.match_info["id"], approve,
                              text_of(form, "reason"), request_meta(request))
    except DomainError as err:
        response = await _page(request, error=err)
        response.set_status(err.status)
        return response
    raise go_to("/operator", "approved" if approve else "rejected")


@routes.get("/operator/attempts/{id}/letter")
async def letter(request: web.Request) -> web.Response:
    uid = await _operator(request)
    data, ctype = await C.letter_image(request.app[DEPS], uid, request.match_info["id"])
    return web.Response(body=data, content_type=ctype, headers={"Cache-Control": "private"})


@routes.get("/operator/enterprises/{ent}/licence")
async def licence(request: web.Request) -> web.Response:
    uid = await _operator(request)
    data, ctype = await C.licence_image(request.app[DEPS], uid, request.match_info["ent"])
    return web.Response(body=data, content_type=ctype, headers={"Cache-Control": "private"})


@routes.post("/operator/enterprises/{ent}/override")
async def override(request: web.Request) -> web.Response:
    uid = await _operator(request)
    try:
        await C.override_credit_code(request.app[DEPS], uid, request.match_info["ent"],
                                     request_meta(request))
    except DomainError as err:
        response = await _page(request, error=err)
        response.set_status(err.status)
        return response
    raise go_to("/operator", "saved")


async def _jobs_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid = uid_of(request)
    queues, dead = await O.job_overview(request.app[DEPS], uid)
    return render(request, "operator/jobs.html", {
        "queues": queues, "dead": dead, "error": error, "notice": notice_of(request)})


@routes.get("/operator/jobs")
async def jobs(request: web.Request) -> web.Response:
    return await _jobs_page(request)


@routes.post("/operator/jobs/{id}")
async def job_action(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    deps, job_id, meta = request.app[DEPS], request.match_info["id"], request_meta(request)
    try:
        if text_of(form, "action") == "discard":
            await O.discard_job(deps, uid, job_id, meta)
        else:
            await O.retry_job(deps, uid, job_id, meta)
    except DomainError as err:
        response = await _jobs_page(request, error=err)
        response.set_status(err.status)
        return response
    raise go_to("/operator/jobs", "saved")


@dev_routes.get("/dev/payments")
async def dev_payments(request: web.Request) -> web.Response:
    return render(request, "dev/payments.html",
                  {"transfers": await dev_transfers(request.app[DEPS])})
