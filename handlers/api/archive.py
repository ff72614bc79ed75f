"""Paper archive API (纸质归档, C7): archive one scanned PDF with its metadata
(multipart), check a batch (.zip of PDFs + .xlsx) into a draft with per-cell errors,
confirm it, and read the archived contracts and their PDFs. Permission rules are the
console's: contracts.archive to archive; the ledger's visibility to read."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, Field

from core.contracts import archive as A
from core.contracts import archive_batch as AB
from core.errors import PayloadTooLarge
from handlers.api.registry import ApiRoutes, OkOut, multipart_form, reply
from handlers.keys import DEPS
from handlers.util import bounded_int, request_meta, require_session, uploaded_file

api = ApiRoutes(tag="archive")

ENT = "/enterprises/{enterprise_id}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ArchiveIn(BaseModel):
    """multipart/form-data: `file` (the scanned PDF) and the contract's metadata."""

    file: bytes = Field(description="the scanned PDF, ≤ 10 MB")
    title: str = Field(max_length=100)
    business_type_id: str = Field(max_length=32)
    employee_id: str | None = Field(default=None, max_length=32,
                                    description="a roster row; else name and phone")
    name: str = Field(default="", max_length=40)
    phone: str = Field(default="", max_length=20)
    signed_on: date
    start_on: date | None = None
    end_on: date | None = None
    number: str = Field(default="", max_length=24,
                        description="the paper's number; empty: an archive number GD…")
    remarks: str = Field(default="", max_length=500)


class ArchiveOut(BaseModel):
    id: str = Field(description="the contract id")
    number: str
    title: str
    state: Literal["archived"]
    state_label: str
    business_type_id: str | None
    business_type: str
    name: str
    phone_masked: str
    signed_on: date
    start_on: date | None
    end_on: date | None
    remarks: str
    source: Literal["single", "batch"]
    batch_id: str | None
    filename: str
    sha256: str
    size: int
    page_count: int
    created_at: datetime


class ArchiveListOut(BaseModel):
    items: list[ArchiveOut]
    total: int
    page: int
    per_page: int


class ArchiveListQuery(BaseModel):
    q: str | None = Field(default=None, description="title, number, name or phone")
    batch_id: str | None = None
    page: int | None = None
    per_page: int | None = Field(default=None, description="1–100, default 20")


class BatchIn(BaseModel):
    """multipart/form-data: `zip` (the PDFs) and `file` (the filled .xlsx)."""

    zip: bytes = Field(description=".zip of the scanned PDFs, ≤ 18 MB")
    file: bytes = Field(description=".xlsx made from the archive template")


class RowErrorOut(BaseModel):
    row: int = Field(description="Excel row number (header is row 1)")
    column: str
    message: str


class PreviewRowOut(BaseModel):
    row: int
    filename: str
    title: str
    name: str
    phone_masked: str
    signed_on: str
    number: str


class BatchOut(BaseModel):
    id: str
    state: Literal["draft", "done"]
    zip_name: str
    total: int = Field(description="rows that will be (or were) archived")
    error_rows: int = Field(description="rows refused at upload, never archived")
    archived: int
    errors: list[RowErrorOut]
    rows: list[PreviewRowOut]
    created_at: datetime
    confirmed_at: datetime | None


class ConfirmOut(BaseModel):
    batch_id: str
    archived: int


def _ent(request: web.Request) -> str:
    return request.match_info["enterprise_id"]


def _out(v: A.ArchiveView) -> ArchiveOut:
    return ArchiveOut(
        id=v.id, number=v.number, title=v.title, state="archived", state_label=v.state_label,
        business_type_id=v.business_type_id, business_type=v.business_type, name=v.name,
        phone_masked=v.phone_masked, signed_on=v.signed_on, start_on=v.start_on,
        end_on=v.end_on, remarks=v.remarks, source=v.source,  # type: ignore[arg-type]
        batch_id=v.batch_id, filename=v.filename, sha256=v.sha256, size=v.size,
        page_count=v.page_count, created_at=v.created_at)


def _batch_out(b: AB.BatchView) -> BatchOut:
    return BatchOut(
        id=b.id, state=b.state, zip_name=b.zip_name, total=b.total,  # type: ignore[arg-type]
        error_rows=b.error_rows, archived=b.archived,
        errors=[RowErrorOut(row=e.row, column=e.column, message=e.message) for e in b.errors],
        rows=[PreviewRowOut(**r.__dict__) for r in b.preview],
        created_at=b.created_at, confirmed_at=b.confirmed_at)




def _file(request: web.Request, form: Any, key: str) -> tuple[bytes, str]:
    limit = request.app[DEPS].config.server.max_body_bytes
    upload = uploaded_file(form, key, limit)
    if upload is None or not upload[0]:
        return b"", ""
    if len(upload[0]) > limit:
        raise PayloadTooLarge("文件过大", code="upload_too_large", field=key)
    return upload


@api.route("POST", ENT + "/archives", summary="Archive one paper-signed contract: a "
           "scanned PDF with its metadata (contracts.archive)", body=ArchiveIn,
           response=ArchiveOut, status=201, upload=True)
async def archive_one(request: web.Request) -> web.Response:
    session = require_session(request)
    form = await multipart_form(request)
    fields = {k: v[:600] for k, v in form.items() if isinstance(v, str)}
    deps = request.app[DEPS]
    data, name = _file(request, form, "file")
    cid = await A.archive_one(deps, session.user_id, _ent(request),
                              A.input_from_fields(deps, fields), data, name,
                              request_meta(request))
    return reply(_out(await A.get_archive(deps, session.user_id, _ent(request), cid)),
                 status=201)


@api.route("GET", ENT + "/archives", summary="Archived paper contracts the caller sees, "
           "newest first", response=ArchiveListOut, query=ArchiveListQuery)
async def list_archives(request: web.Request) -> web.Response:
    session = require_session(request)
    q = request.query
    page = await A.list_archives(
        request.app[DEPS], session.user_id, _ent(request), q=q.get("q", ""),
        batch_id=q.get("batch_id") or None,
        page=bounded_int(q.get("page"), "page", default=1, minimum=1, maximum=10_000),
        per_page=bounded_int(q.get("per_page"), "per_page", default=20, minimum=1,
                             maximum=A.MAX_PAGE))
    return reply(ArchiveListOut(items=[_out(v) for v in page.items], total=page.total,
                                page=page.page, per_page=page.per_page))


@api.route("GET", ENT + "/archive-template", summary="The batch archive .xlsx template",
           response_content_type=XLSX)
async def archive_template(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await AB.template_for(request.app[DEPS], session.user_id, _ent(request))
    return web.Response(body=body, content_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote('纸质合同归档模板.xlsx')}"})


@api.route("POST", ENT + "/archive-batches", summary="Check a batch (.zip of PDFs + .xlsx) "
           "into a draft: per-cell errors and the rows that will be archived", body=BatchIn,
           response=BatchOut, status=201, upload=True)
async def batch_upload(request: web.Request) -> web.Response:
    session = require_session(request)
    form = await multipart_form(request)
    zip_data, zip_name = _file(request, form, "zip")
    xlsx, _ = _file(request, form, "file")
    deps = request.app[DEPS]
    bid = await AB.draft_batch(deps, session.user_id, _ent(request), zip_data=zip_data,
                               zip_name=zip_name, xlsx=xlsx, meta=request_meta(request))
    return reply(_batch_out(await AB.get_batch(deps, session.user_id, _ent(request), bid)),
                 status=201)


@api.route("GET", ENT + "/archive-batches/{batch_id}", summary="A batch: its errors and rows",
           response=BatchOut)
async def batch_get(request: web.Request) -> web.Response:
    session = require_session(request)
    return reply(_batch_out(await AB.get_batch(request.app[DEPS], session.user_id,
                                               _ent(request), request.match_info["batch_id"])))


@api.route("POST", ENT + "/archive-batches/{batch_id}/confirm",
           summary="Archive the batch's valid rows (one transaction)", response=ConfirmOut)
async def batch_confirm(request: web.Request) -> web.Response:
    session = require_session(request)
    bid = request.match_info["batch_id"]
    count = await AB.confirm_batch(request.app[DEPS], session.user_id, _ent(request), bid,
                                   request_meta(request))
    return reply(ConfirmOut(batch_id=bid, archived=count))


@api.route("DELETE", ENT + "/archive-batches/{batch_id}",
           summary="Throw away an unconfirmed batch and its uploaded scans (409 "
                   "batch_not_draft once confirmed)", response=OkOut)
async def batch_discard(request: web.Request) -> web.Response:
    session = require_session(request)
    await AB.discard_batch(request.app[DEPS], session.user_id, _ent(request),
                           request.match_info["batch_id"], request_meta(request))
    return reply(OkOut())


@api.route("GET", ENT + "/archives/{contract_id}", summary="One archived paper contract",
           response=ArchiveOut)
async def archive_get(request: web.Request) -> web.Response:
    session = require_session(request)
    return reply(_out(await A.get_archive(request.app[DEPS], session.user_id, _ent(request),
                                          request.match_info["contract_id"])))


@api.route("GET", ENT + "/archives/{contract_id}/document",
           summary="The archived PDF (checked against its SHA-256)",
           response_content_type="application/pdf")
async def archive_document(request: web.Request) -> web.Response:
    session = require_session(request)
    doc = await A.download(request.app[DEPS], session.user_id, _ent(request),
                           request.match_info["contract_id"])
    return web.Response(body=doc.data, content_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(doc.filename)}",
        "X-Document-SHA256": doc.sha256, "Cache-Control": "private, no-store"})
