"""Batch sending in the console: the template's batch page (Excel sheet or roster
multi-select), the draft's preview with per-cell errors, confirming, the progress page
that updates itself (polls progress.json), and sealing the batch's due contracts with
one code."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from core.contracts import signing
from core.errors import DomainError, InvalidInput
from core.templates import batch, sending, service, tasks
from core.templates.fields import KINDS
from handlers.console.enterprise import enterprise_page_context
from handlers.console.forms import (
    deps_of,
    ent_of,
    file_of,
    form_of,
    refused,
    text_of,
    uid_of,
)
from handlers.console.templates import _deadline
from handlers.render import render
from handlers.util import bounded_int, request_meta

routes = web.RouteTableDef()

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _tid(request: web.Request) -> str:
    return request.match_info["tid"]


def _bid(request: web.Request) -> str:
    return request.match_info["bid"]


def _batch_url(request: web.Request, bid: str) -> str:
    return f"/console/e/{ent_of(request)}/batches/{bid}"


async def _batch_page(request: web.Request, error: DomainError | None = None,
                      form: dict[str, str] | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "templates")
    view = await service.get_template(deps, uid, ent, _tid(request))
    versions = await service.list_versions(deps, uid, ent, view.id)
    if not versions:
        raise web.HTTPSeeOther(f"/console/e/{ent}/templates/{view.id}")
    cols = batch.columns(versions[0])
    q = request.query.get("q", "")[:40]
    dept = request.query.get("dept", "")[:32]
    offset = bounded_int(request.query.get("offset"), "offset", default=0, maximum=100_000)
    page = await batch.roster(deps, uid, ent, q=q, department_id=dept, offset=offset, limit=50)
    return render(request, "console/batch_new.html", {
        **ctx, "t": view, "v": versions[0], "cols": cols, "error": error, "form": form or {},
        "shared": [c for c in cols if c.field is not None], "kinds": KINDS,
        "roster": page, "q": q, "dept": dept, "offset": offset,
        "departments": await batch.departments(deps, uid, ent),
        "max_rows": batch.MAX_ROWS,
        # The way back to a batch's progress and its one-code seal after leaving it.
        "recent": [b for b in await batch.list_batches(deps, uid, ent)
                   if b.template_id == view.id][:10],
    })


@routes.get("/console/e/{ent}/templates/{tid}/batch")
async def batch_new(request: web.Request) -> web.Response:
    return await _batch_page(request)


@routes.get("/console/e/{ent}/templates/{tid}/batch/sheet.xlsx")
async def batch_sheet(request: web.Request) -> web.Response:
    name, data = await batch.sheet(deps_of(request), uid_of(request), ent_of(request),
                                   _tid(request))
    return web.Response(body=data, content_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})


@routes.post("/console/e/{ent}/templates/{tid}/batch/xlsx")
async def batch_xlsx(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    form = await form_of(request)
    try:
        data = file_of(form, "file")
        if not data:
            raise InvalidInput("请选择填好的 Excel 文件", code="empty_upload", field="file")
        bid = await batch.draft_from_xlsx(
            deps, uid, ent, _tid(request), data, request_meta(request),
            deadline=_deadline(deps, text_of(form, "deadline")))
    except DomainError as err:
        return await refused(request, _batch_page, err)
    raise web.HTTPSeeOther(_batch_url(request, bid))


@routes.post("/console/e/{ent}/templates/{tid}/batch/roster")
async def batch_roster(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    form = await form_of(request)
    kept = {k: text_of(form, k)[:200] for k in form if k.startswith("v_") or k == "deadline"}
    try:
        ids = [v for v in form.getall("employee", []) if isinstance(v, str)][:batch.MAX_ROSTER]
        values = {k[2:]: v for k, v in kept.items() if k.startswith("v_")}
        bid = await batch.draft_from_roster(
            deps, uid, ent, _tid(request), ids, dict(values), request_meta(request),
            deadline=_deadline(deps, text_of(form, "deadline")))
    except DomainError as err:
        return await refused(request, _batch_page, err, form=kept)
    raise web.HTTPSeeOther(_batch_url(request, bid))


async def _show(request: web.Request, error: DomainError | None = None,
                step: str = "", notice: str | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "templates")
    view = await batch.get_batch(deps, uid, ent, _bid(request))
    progress = await batch.progress(deps, uid, ent, view.id) if view.state != "draft" else None
    seals: list[str] = []
    if view.state != "draft":
        seals = await batch.pending_seals(deps, uid, ent, view.id)
    ctx_notice = notice or ({"sent": "已确认发起，合同正在逐份生成",
                             "sealed": "已提交盖章，稍后刷新查看"}.get(request.query.get("ok", "")))
    return render(request, "console/batch.html", {
        **ctx, "b": view, "p": progress, "error": error, "notice": ctx_notice,
        "seals": seals[:signing.MAX_TOGETHER], "seal_total": len(seals), "step": step,
        "max_together": signing.MAX_TOGETHER,
    }, status=error.status if error is not None else 200)


@routes.get("/console/e/{ent}/batches/{bid}")
async def batch_show(request: web.Request) -> web.Response:
    return await _show(request)


@routes.post("/console/e/{ent}/batches/{bid}/confirm")
async def batch_confirm(request: web.Request) -> web.Response:
    await form_of(request)
    try:
        await batch.confirm(deps_of(request), uid_of(request), ent_of(request), _bid(request),
                            request_meta(request))
    except DomainError as err:
        return await _show(request, err)
    raise web.HTTPSeeOther(_batch_url(request, _bid(request)) + "?ok=sent")


@routes.get("/console/e/{ent}/batches/{bid}/progress.json")
async def batch_progress(request: web.Request) -> web.Response:
    p = await batch.progress(deps_of(request), uid_of(request), ent_of(request), _bid(request))
    body: dict[str, Any] = {k: getattr(p, k) for k in (
        "state", "total", "queued", "created", "notified", "signed", "failed", "error_rows")}
    body["failures"] = [{"row": r, "name": n, "message": m} for r, n, m in p.failures]
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@routes.post("/console/e/{ent}/batches/{bid}/seal/code")
async def seal_code(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    await form_of(request)
    try:
        ids = (await batch.pending_seals(deps, uid, ent, _bid(request)))[:signing.MAX_TOGETHER]
        sent = await signing.request_sign_many(deps, uid, ids, request_meta(request))
    except DomainError as err:
        return await _show(request, err)
    return await _show(request, step="code", notice=f"验证码已发送至 {sent.phone_masked}")


@routes.post("/console/e/{ent}/batches/{bid}/seal/confirm")
async def seal_confirm(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    form = await form_of(request)
    try:
        ids = (await batch.pending_seals(deps, uid, ent, _bid(request)))[:signing.MAX_TOGETHER]
        await signing.confirm_sign_many(deps, uid, ids, text_of(form, "code"),
                                        request_meta(request))
    except InvalidInput as err:
        return await _show(request, err, step="code")
    except DomainError as err:
        return await _show(request, err)
    raise web.HTTPSeeOther(_batch_url(request, _bid(request)) + "?ok=sealed")


# ---------------------------------------------------------------- multi-document tasks


async def _task_page(request: web.Request, error: DomainError | None = None,
                     form: dict[str, str] | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "templates")
    published = await service.list_templates(deps, uid, ent, published_only=True)
    chosen = [t for t in published if t.id in request.query.getall("t", [])][:tasks.MAX_DOCS]
    groups = []
    for t in chosen:
        versions = await service.list_versions(deps, uid, ent, t.id)
        if versions:
            groups.append((t, [c for c in batch.columns(versions[0]) if c.field is not None]))
    return render(request, "console/task_new.html", {
        **ctx, "templates": published, "chosen": [t.id for t in chosen], "groups": groups,
        "form": form or {}, "error": error, "min_docs": tasks.MIN_DOCS,
        "max_docs": tasks.MAX_DOCS})


@routes.get("/console/e/{ent}/tasks/new")
async def task_new(request: web.Request) -> web.Response:
    return await _task_page(request)


@routes.post("/console/e/{ent}/tasks/new")
async def task_send(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    form = await form_of(request)
    kept = {k: text_of(form, k)[:200] for k in form
            if isinstance(form.get(k), str) and k != "_csrf"}
    try:
        tids = [v for v in form.getall("t", []) if isinstance(v, str)][:tasks.MAX_DOCS]
        values: dict[str, dict[str, object]] = {t: {} for t in tids}
        for key, value in kept.items():
            if key.startswith("v_") and "__" in key:
                tid, field = key[2:].split("__", 1)
                if tid in values:
                    values[tid][field] = value
        await tasks.send_task(
            deps, uid, ent, tids,
            party=sending.Party(text_of(form, "name"), text_of(form, "phone")),
            values=values, title=text_of(form, "title"),
            deadline=_deadline(deps, text_of(form, "deadline")), meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _task_page, err, form=kept)
    raise web.HTTPSeeOther(f"/console/e/{ent}/contracts?tab=all")
