"""Paper archive (纸质合同归档) in the console, reached from the contract ledger: archive one
scanned PDF with its metadata, or a batch (.zip of PDFs + .xlsx) with a preview of the
refused cells, then confirm; an archived contract's page and its PDF."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from core.context import Deps, RequestMeta
from core.contracts import archive as A
from core.contracts import archive_batch as AB
from core.errors import DomainError, PayloadTooLarge
from handlers.console.enterprise import enterprise_page_context
from handlers.console.forms import (
    MAX_UPLOAD,
    deps_of,
    ent_of,
    form_of,
    go_to,
    refused,
    text_of,
    uid_of,
)
from handlers.render import render
from handlers.util import request_meta, uploaded_file

routes = web.RouteTableDef()

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIELDS = ("title", "business_type_id", "employee_id", "name", "phone", "signed_on",
          "start_on", "end_on", "number", "remarks")


def _base(request: web.Request) -> str:
    return f"/console/e/{ent_of(request)}/archive"


async def _archive_page(request: web.Request, error: DomainError | None = None,
                        form: dict[str, str] | None = None, tab: str = "single"
                        ) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "contracts")
    choices = await A.form_choices(deps, uid, ent)
    recent = await A.list_archives(deps, uid, ent, per_page=10)
    tab = request.query.get("tab", tab)
    return render(request, "console/archive.html", {
        **ctx, "error": error, "form": form or {}, "choices": choices, "recent": recent,
        "tab": "batch" if tab == "batch" else "single", "columns": AB.COLUMNS,
        "required": AB.REQUIRED, "max_rows": AB.MAX_ROWS, "max_zip_mb": AB.MAX_ZIP_BYTES >> 20,
        "max_pdf_mb": deps.config.signing.max_upload_bytes >> 20,
    })


@routes.get("/console/e/{ent}/archive")
async def archive_page(request: web.Request) -> web.Response:
    return await _archive_page(request)


def _file(form: Any, key: str) -> tuple[bytes, str]:
    upload = uploaded_file(form, key, MAX_UPLOAD)
    if upload is None or not upload[0]:
        return b"", ""
    if len(upload[0]) > MAX_UPLOAD:
        raise PayloadTooLarge("文件过大", code="upload_too_large", field=key)
    return upload


@routes.post("/console/e/{ent}/archive")
async def archive_one(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    form = await form_of(request)
    kept = {k: text_of(form, k)[:500] for k in FIELDS}
    try:
        data, name = _file(form, "file")
        cid = await A.archive_one(deps, uid, ent, A.input_from_fields(deps, kept), data, name,
                                  request_meta(request))
    except DomainError as err:
        return await refused(request, _archive_page, err, form=kept)
    raise go_to(f"{_base(request)}/{cid}", "archived")


@routes.get("/console/e/{ent}/archive/template.xlsx")
async def archive_template(request: web.Request) -> web.Response:
    body = await AB.template_for(deps_of(request), uid_of(request), ent_of(request))
    return web.Response(body=body, content_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote('纸质合同归档模板.xlsx')}"})


@routes.post("/console/e/{ent}/archive/batches")
async def batch_upload(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    form = await form_of(request)
    try:
        zip_data, zip_name = _file(form, "zip")
        xlsx, _ = _file(form, "file")
        bid = await AB.draft_batch(deps, uid, ent, zip_data=zip_data, zip_name=zip_name,
                                   xlsx=xlsx, meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _archive_page, err, tab="batch")
    raise go_to(f"{_base(request)}/batches/{bid}")


async def _batch_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "contracts")
    view = await AB.get_batch(deps, uid, ent, request.match_info["bid"])
    return render(request, "console/archive_batch.html", {**ctx, "b": view, "error": error})


@routes.get("/console/e/{ent}/archive/batches/{bid}")
async def batch_page(request: web.Request) -> web.Response:
    return await _batch_page(request)


BatchAct = Callable[[Deps, str, str, str, RequestMeta], Awaitable[object]]


async def _batch_act(request: web.Request, act: BatchAct, then: str) -> web.Response:
    """A batch page's button: do it, then go on; a refusal shows the page with why."""
    await form_of(request)
    try:
        await act(deps_of(request), uid_of(request), ent_of(request),
                  request.match_info["bid"], request_meta(request))
    except DomainError as err:
        return await refused(request, _batch_page, err)
    raise web.HTTPSeeOther(then)


@routes.post("/console/e/{ent}/archive/batches/{bid}/confirm")
async def batch_confirm(request: web.Request) -> web.Response:
    return await _batch_act(request, AB.confirm_batch,
                            f"{_base(request)}/batches/{request.match_info['bid']}?ok=archived")


@routes.post("/console/e/{ent}/archive/batches/{bid}/discard")
async def batch_discard(request: web.Request) -> web.Response:
    return await _batch_act(request, AB.discard_batch,
                            f"{_base(request)}?tab=batch&ok=batch_discarded")


@routes.get("/console/e/{ent}/archive/{cid}")
async def archive_detail(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "contracts")
    view = await A.get_archive(deps, uid, ent, request.match_info["cid"])
    return render(request, "console/archive_detail.html", {**ctx, "a": view})


@routes.get("/console/e/{ent}/archive/{cid}/file.pdf")
async def archive_file(request: web.Request) -> web.Response:
    doc = await A.download(deps_of(request), uid_of(request), ent_of(request),
                           request.match_info["cid"])
    return web.Response(body=doc.data, content_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(doc.filename)}",
        "Cache-Control": "private, no-store", "X-Content-SHA256": doc.sha256})



