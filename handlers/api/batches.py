"""Batches API: the template's batch sheet, a draft batch from an .xlsx or a roster
selection, confirm, status and progress; multi-document tasks; several contracts signed
with one code; the onboarding QR's template. Permission rules are the console's
(contracts.send for batches and tasks, employees.manage for the QR's template; signing
together: the caller's own turn in each contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, Field

from core.contracts import signing
from core.errors import InvalidInput
from core.templates import batch, onboarding, sending, tasks
from handlers.api.registry import ApiRoutes, parse, reply, required_upload
from handlers.keys import DEPS
from handlers.util import request_meta, require_session

api = ApiRoutes(tag="batches")

ENT = "/enterprises/{enterprise_id}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class RowErrorOut(BaseModel):
    row: int = Field(description="Excel row number (header is row 1) or roster position")
    column: str
    message: str


class RowOut(BaseModel):
    row: int
    name: str
    phone_masked: str
    values: dict[str, str]


class BatchOut(BaseModel):
    id: str
    template_id: str
    template_name: str
    version: int
    source: Literal["xlsx", "roster"]
    state: Literal["draft", "running", "finished"]
    total: int = Field(description="rows that will be (or were) sent")
    error_rows: int = Field(description="rows refused at upload, not sent")
    errors: list[RowErrorOut]
    preview: list[RowOut] = Field(description="the first rows")
    created_at: datetime
    deadline: datetime | None


class BatchListOut(BaseModel):
    items: list[BatchOut]


class FailureOut(BaseModel):
    row: int
    name: str
    message: str


class ProgressOut(BaseModel):
    batch_id: str
    state: Literal["draft", "running", "finished"]
    total: int
    queued: int
    created: int
    notified: int
    signed: int
    failed: int
    error_rows: int
    failures: list[FailureOut]


class XlsxIn(BaseModel):
    """multipart/form-data: `file` (the filled batch sheet) and optional fields."""

    file: bytes = Field(description=".xlsx made from the template's batch sheet, ≤ 10 MB")
    deadline: datetime | None = None
    seal_id: str | None = Field(default=None, max_length=32)


class RosterIn(BaseModel):
    employee_ids: list[str] = Field(min_length=1, max_length=batch.MAX_ROSTER)
    values: dict[str, str | bool] = Field(default_factory=dict, max_length=60,
                                          description="sender fields shared by all")
    deadline: datetime | None = None
    seal_id: str | None = Field(default=None, max_length=32)


class SignerIn(BaseModel):
    name: str = Field(default="", max_length=40)
    phone: str = Field(default="", max_length=20)
    employee_id: str | None = Field(default=None, max_length=32)


class TaskIn(BaseModel):
    template_ids: list[str] = Field(min_length=tasks.MIN_DOCS, max_length=tasks.MAX_DOCS)
    signer: SignerIn
    values: dict[str, dict[str, str | bool]] = Field(
        default_factory=dict, max_length=tasks.MAX_DOCS,
        description="sender fields per template id")
    title: str = Field(default="", max_length=100)
    deadline: datetime | None = None


class TaskOut(BaseModel):
    task_id: str


class TogetherIn(BaseModel):
    contract_ids: list[str] = Field(min_length=1, max_length=signing.MAX_TOGETHER)


class ConfirmTogetherIn(TogetherIn):
    code: str = Field(max_length=10)


class CodeOut(BaseModel):
    phone_masked: str


class OutcomeOut(BaseModel):
    contract_id: str
    state: str = Field(description="signing (still being applied) | signed")
    contract_state: str


class OutcomesOut(BaseModel):
    items: list[OutcomeOut]


class QrTemplateIn(BaseModel):
    template_id: str | None = Field(default=None, max_length=32,
                                    description="null: the QR carries no template")


class QrTemplateOut(BaseModel):
    template_id: str | None
    name: str | None


def _batch_out(v: batch.BatchView) -> BatchOut:
    return BatchOut(
        id=v.id, template_id=v.template_id, template_name=v.template_name,
        version=v.version, source=v.source,  # type: ignore[arg-type]
        state=v.state, total=v.total, error_rows=v.error_rows,  # type: ignore[arg-type]
        errors=[RowErrorOut(row=e.row, column=e.column, message=e.message) for e in v.errors],
        preview=[RowOut(row=r.row, name=r.name, phone_masked=r.phone, values=r.values)
                 for r in v.preview],
        created_at=v.created_at, deadline=v.deadline)


def _progress_out(p: batch.Progress) -> ProgressOut:
    return ProgressOut(
        batch_id=p.batch_id, state=p.state, total=p.total,  # type: ignore[arg-type]
        queued=p.queued, created=p.created, notified=p.notified, signed=p.signed,
        failed=p.failed, error_rows=p.error_rows,
        failures=[FailureOut(row=r, name=n, message=m) for r, n, m in p.failures])


def _ent(request: web.Request) -> str:
    return request.match_info["enterprise_id"]


def _deadline(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("截止时间格式无效", code="invalid_deadline", field="deadline") from None


@api.route("GET", ENT + "/templates/{template_id}/batch-sheet",
           summary="The template's batch .xlsx: name, phone and one column per sender field",
           response_content_type=XLSX)
async def batch_sheet(request: web.Request) -> web.Response:
    session = require_session(request)
    name, data = await batch.sheet(request.app[DEPS], session.user_id, _ent(request),
                                   request.match_info["template_id"])
    return web.Response(body=data, content_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})


@api.route("POST", ENT + "/templates/{template_id}/batches/xlsx",
           summary="Check a filled batch sheet into a draft batch (per-cell errors, preview)",
           body=XlsxIn, response=BatchOut, status=201, upload=True)
async def batch_from_xlsx(request: web.Request) -> web.Response:
    session = require_session(request)
    fields, upload = await required_upload(request, "file")
    deps = request.app[DEPS]
    bid = await batch.draft_from_xlsx(
        deps, session.user_id, _ent(request), request.match_info["template_id"], upload,
        request_meta(request), deadline=_deadline(fields.get("deadline")),
        seal_id=(fields.get("seal_id") or "")[:32] or None)
    return reply(_batch_out(await batch.get_batch(deps, session.user_id, _ent(request), bid)),
                 status=201)


@api.route("POST", ENT + "/templates/{template_id}/batches/roster",
           summary="A draft batch for employees picked on the roster", body=RosterIn,
           response=BatchOut, status=201)
async def batch_from_roster(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, RosterIn)
    deps = request.app[DEPS]
    bid = await batch.draft_from_roster(
        deps, session.user_id, _ent(request), request.match_info["template_id"],
        body.employee_ids, dict(body.values), request_meta(request), deadline=body.deadline,
        seal_id=body.seal_id)
    return reply(_batch_out(await batch.get_batch(deps, session.user_id, _ent(request), bid)),
                 status=201)


@api.route("GET", ENT + "/batches", summary="Sent batches, newest first",
           response=BatchListOut)
async def list_batches(request: web.Request) -> web.Response:
    session = require_session(request)
    items = await batch.list_batches(request.app[DEPS], session.user_id, _ent(request))
    return reply(BatchListOut(items=[_batch_out(v) for v in items]))


@api.route("GET", ENT + "/batches/{batch_id}", summary="A batch (draft or sent)",
           response=BatchOut)
async def get_batch(request: web.Request) -> web.Response:
    session = require_session(request)
    return reply(_batch_out(await batch.get_batch(
        request.app[DEPS], session.user_id, _ent(request), request.match_info["batch_id"])))


@api.route("POST", ENT + "/batches/{batch_id}/confirm",
           summary="Send a draft batch: one contract per row through the job queue "
                   "(idempotent)", response=ProgressOut)
async def confirm_batch(request: web.Request) -> web.Response:
    session = require_session(request)
    deps, ent, bid = request.app[DEPS], _ent(request), request.match_info["batch_id"]
    await batch.confirm(deps, session.user_id, ent, bid, request_meta(request))
    return reply(_progress_out(await batch.progress(deps, session.user_id, ent, bid)))


@api.route("GET", ENT + "/batches/{batch_id}/progress",
           summary="Created / notified / signed / failed counts", response=ProgressOut)
async def batch_progress(request: web.Request) -> web.Response:
    session = require_session(request)
    return reply(_progress_out(await batch.progress(
        request.app[DEPS], session.user_id, _ent(request), request.match_info["batch_id"])))


@api.route("POST", ENT + "/tasks",
           summary="Send several templates to one person as one task (signed with one code)",
           body=TaskIn, response=TaskOut, status=201)
async def send_task(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, TaskIn)
    deps = request.app[DEPS]
    if body.signer.employee_id:
        person = await sending.roster_person(deps, session.user_id, _ent(request),
                                             body.signer.employee_id)
        party = sending.Party(person.name, person.phone)
    else:
        party = sending.Party(body.signer.name, body.signer.phone)
    task_id = await tasks.send_task(
        deps, session.user_id, _ent(request), body.template_ids, party=party,
        values={k: dict(v) for k, v in body.values.items()}, title=body.title,
        deadline=body.deadline, meta=request_meta(request))
    return reply(TaskOut(task_id=task_id), status=201)


@api.route("POST", "/contracts/sign-together/code",
           summary="One SMS code for signing several contracts (your turn in each)",
           body=TogetherIn, response=CodeOut)
async def together_code(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, TogetherIn)
    sent = await signing.request_sign_many(request.app[DEPS], session.user_id,
                                           body.contract_ids, request_meta(request))
    return reply(CodeOut(phone_masked=sent.phone_masked))


@api.route("POST", "/contracts/sign-together/confirm",
           summary="Confirm the code: each contract gets its own PAdES signature",
           body=ConfirmTogetherIn, response=OutcomesOut)
async def together_confirm(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, ConfirmTogetherIn)
    done = await signing.confirm_sign_many(request.app[DEPS], session.user_id,
                                           body.contract_ids, body.code, request_meta(request))
    return reply(OutcomesOut(items=[OutcomeOut(contract_id=o.contract_id, state=o.state,
                                               contract_state=o.contract_state)
                                    for o in done]))


@api.route("GET", ENT + "/onboarding/template",
           summary="The template the onboarding QR carries", response=QrTemplateOut)
async def get_qr_template(request: web.Request) -> web.Response:
    session = require_session(request)
    cur = await onboarding.current(request.app[DEPS], session.user_id, _ent(request))
    return reply(QrTemplateOut(template_id=cur.template_id if cur else None,
                               name=cur.name if cur else None))


@api.route("PUT", ENT + "/onboarding/template",
           summary="Attach a published template to the onboarding QR (null: none)",
           body=QrTemplateIn, response=QrTemplateOut)
async def put_qr_template(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, QrTemplateIn)
    deps = request.app[DEPS]
    await onboarding.set_template(deps, session.user_id, _ent(request), body.template_id,
                                  request_meta(request))
    cur = await onboarding.current(deps, session.user_id, _ent(request))
    return reply(QrTemplateOut(template_id=cur.template_id if cur else None,
                               name=cur.name if cur else None))


class PendingSealsOut(BaseModel):
    contract_ids: list[str] = Field(
        description="the batch's contracts waiting for the enterprise seal; seal up to "
                    f"{signing.MAX_TOGETHER} at once with POST /contracts/sign-together/code "
                    "and /confirm")


@api.route("GET", ENT + "/batches/{batch_id}/pending-seals",
           summary="The batch's contracts waiting for the enterprise seal (contracts.send)",
           response=PendingSealsOut)
async def pending_seals(request: web.Request) -> web.Response:
    session = require_session(request)
    ids = await batch.pending_seals(request.app[DEPS], session.user_id,
                                    request.match_info["enterprise_id"],
                                    request.match_info["batch_id"])
    return reply(PendingSealsOut(contract_ids=ids))
