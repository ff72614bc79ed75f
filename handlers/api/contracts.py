"""Contracts API: send (multipart), list, get, request the signing code, sign, reject,
revoke (one or many), urge (one or many), download."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, Field

from core.contracts import access, ending, ledger, reminders, send, signing, urging
from core.contracts.access import ContractItem, ContractView
from core.contracts.send import Box, CcSpec, Options, SignerSpec
from core.errors import InvalidInput, PayloadTooLarge
from handlers.api.registry import ApiRoutes, parse, reply
from handlers.keys import DEPS
from handlers.util import read_form, request_meta, require_session, uploaded_file

api = ApiRoutes(tag="contracts")


class BoxIn(BaseModel):
    page: int = Field(ge=1, le=500, description="1-based page number")
    rect: tuple[float, float, float, float] = Field(
        description="x1, y1, x2, y2 in PDF points, origin bottom-left")


class SignerIn(BaseModel):
    party: Literal["person", "enterprise"]
    name: str = Field(default="", max_length=40, description="person: real name")
    phone: str = Field(default="", max_length=20, description="person: mobile number")
    seal_id: str | None = Field(default=None, max_length=32,
                                description="enterprise: seal (default: contract seal)")
    order: int = Field(default=1, ge=1, le=10)
    boxes: list[BoxIn] = Field(min_length=1, max_length=10)


class CcIn(BaseModel):
    """Copy the contract to (抄送): a member of the enterprise, or a phone (and name)."""

    member_id: str | None = Field(default=None, max_length=32)
    phone: str = Field(default="", max_length=20)
    name: str = Field(default="", max_length=40)


# Who may refuse to sign (core.contracts.states.REJECT_BY); the template send takes it too.
RejectBy = Literal["all", "persons", "enterprises", "none"]
REJECT_BY_HELP = ("who may refuse to sign (拒签): all, persons (the people only), enterprises "
                  "(the enterprises only) or none")


class CreateIn(BaseModel):
    """multipart/form-data: these fields, `signers` (and `cc`) as JSON arrays, and the PDF
    as `file`."""

    enterprise_id: str = Field(max_length=32)
    title: str = Field(max_length=100)
    signers: list[SignerIn] = Field(min_length=1, max_length=20)
    deadline: datetime | None = None
    business_type_id: str | None = Field(
        default=None, max_length=32,
        description="the enterprise's business type (default: 劳动合同)")
    confidential: bool = Field(
        default=False,
        description="only the initiator, the handler, cc and the main admin see it")
    cc: list[CcIn] = Field(default=[], max_length=20, description="抄送: read, never sign")
    page_qr: bool = Field(
        default=False, description="防抽页: a QR code on every page opening that page's "
                                   "public verification (/verify/c/<token>?p=<page>)")
    cross_seal: bool = Field(
        default=False, description="骑缝章: the enterprise seal split across the right edge "
                                   "of every page; the enterprise must seal first")
    reject_by: RejectBy = Field(default="all", description=REJECT_BY_HELP)
    file: bytes = Field(description="the PDF (binary part)")


class ContractItemOut(BaseModel):
    id: str
    number: str
    title: str
    state: str
    state_label: str
    enterprise_name: str
    created_at: datetime
    sent_at: datetime | None
    completed_at: datetime | None
    deadline: datetime | None


class ContractListOut(BaseModel):
    tab: str
    items: list[ContractItemOut]


class ContractListQuery(BaseModel):
    tab: Literal["to_sign", "waiting", "completed", "ended", "initiated", "cc"] = Field(
        default="to_sign", description="cc: 抄送我的")
    q: str = Field(default="", max_length=50, description="title, contract number or "
                   "enterprise name contains")
    state: Literal["", "in_progress", "completed", "rejected", "revoked", "expired",
                   "draft"] = ""


class LedgerQueryIn(BaseModel):
    """The enterprise ledger's search and filters (dates: Beijing days, both ends in)."""

    q: str = Field(default="", max_length=50,
                   description="title, signer name, phone or contract number contains")
    state: Literal["all", "to_seal", "draft", "in_progress", "completed", "ended",
                   "rejected", "revoked", "expired"] = "all"
    type: str | None = Field(default=None, max_length=32, description="business type id")
    dept: str | None = Field(default=None, max_length=32,
                             description="department of an employee signer (with sub-departments)")
    sent_from: date | None = None
    sent_to: date | None = None
    deadline_after: date | None = None
    deadline_before: date | None = None
    template: str | None = Field(default=None, max_length=32,
                                 description="sent from this template of the enterprise")
    sort: Literal["sent", "deadline", "title"] = "sent"
    order: Literal["desc", "asc"] = "desc"
    page: int = Field(default=1, ge=1, le=ledger.MAX_PAGE)
    per_page: Literal[20, 50, 100] = 20


class LedgerItemOut(BaseModel):
    id: str
    number: str
    title: str
    state: str
    state_label: str
    business_type_id: str | None
    business_type: str
    confidential: bool
    signers: str
    signed: int
    total: int
    signer_names: str
    signer_phones: str = Field(description="masked")
    departments: str
    cc: str
    initiator_name: str
    created_at: datetime
    sent_at: datetime | None
    deadline: datetime | None
    completed_at: datetime | None
    can_urge: bool = Field(default=False, description="the member may urge (催办) it now")
    urge_label: str | None = Field(default=None, description="why not yet, when urged lately")
    next_urge_at: datetime | None = None
    can_revoke: bool = False


class LedgerOut(BaseModel):
    total: int
    page: int
    per_page: int
    pages: int
    items: list[LedgerItemOut]


class BoxOut(BaseModel):
    field_name: str
    page: int
    rect: tuple[float, float, float, float]
    signed: bool


class SignerOut(BaseModel):
    id: str
    party: str
    name: str
    phone_masked: str | None
    order: int
    state: str
    state_label: str
    signed_at: datetime | None
    reject_reason: str | None
    boxes: list[BoxOut]


class ContractOut(BaseModel):
    id: str
    number: str
    business_type: str
    confidential: bool
    cc: list[str]
    title: str
    state: str
    state_label: str
    enterprise_id: str
    enterprise_name: str
    created_at: datetime
    sent_at: datetime | None
    completed_at: datetime | None
    deadline: datetime | None
    end_reason: str | None
    page_count: int
    document_sha256: str
    version: int
    signers: list[SignerOut]
    my_signer_id: str | None
    my_signer_state: str | None
    can_sign: bool
    can_reject: bool
    can_revoke: bool
    can_download: bool
    identity_verified: bool
    has_signature: bool
    can_urge: bool = Field(description="the sending side may urge the pending signers now")
    urge_label: str | None = Field(
        description="while urging waits: 已催办，X 小时后可再次催办")
    next_urge_at: datetime | None = Field(
        description="when urging is possible (now or later); null: nobody to urge")


class CodeIn(BaseModel):
    signer_id: str | None = Field(default=None, max_length=32,
                                  description="which of my signer rows (default: the pending one)")


class CodeOut(BaseModel):
    signer_id: str
    phone_masked: str


class SignIn(BaseModel):
    code: str = Field(max_length=6)
    signer_id: str | None = Field(default=None, max_length=32)


class SignOut(BaseModel):
    contract_id: str
    signer_id: str
    state: str = Field(description="signed, or signing while the signature is applied")
    contract_state: str


class ReasonIn(BaseModel):
    reason: str = Field(max_length=300)


class UrgeIn(BaseModel):
    signer_id: str | None = Field(default=None, max_length=32,
                                  description="one pending signer (default: every pending one)")


class UrgeOut(BaseModel):
    contract_id: str
    urged: list[str] = Field(description="names of the signers urged now")
    skipped: list[str] = Field(description="pending signers urged within the last 10 hours")
    next_urge_at: datetime


class BulkIn(BaseModel):
    contract_ids: list[Annotated[str, Field(max_length=32)]] = Field(
        min_length=1, max_length=ending.MAX_BULK)


class BulkRevokeIn(BulkIn):
    reason: str = Field(max_length=300)


class BulkItemOut(BaseModel):
    contract_id: str
    ok: bool
    code: str | None = Field(description="why not (e.g. urge_too_soon, contract_not_found)")
    message: str | None
    next_urge_at: datetime | None = None


class BulkOut(BaseModel):
    done: int
    failed: int
    items: list[BulkItemOut]


class RemindersIn(BaseModel):
    enabled: bool
    first_days: int | None = Field(default=None, ge=reminders.FIRST_DAYS[0],
                                   le=reminders.FIRST_DAYS[1],
                                   description="first reminder this many days after sending")
    every_days: int | None = Field(default=None, ge=reminders.EVERY_DAYS[0],
                                   le=reminders.EVERY_DAYS[1], description="then every … days")
    max_times: int | None = Field(default=None, ge=reminders.MAX_TIMES[0],
                                  le=reminders.MAX_TIMES[1], description="at most … reminders")


class RemindersOut(BaseModel):
    enabled: bool
    first_days: int
    every_days: int
    max_times: int
    summary: str


def reminders_out(r: reminders.ReminderSchedule) -> RemindersOut:
    return RemindersOut(enabled=r.enabled, first_days=r.first_days, every_days=r.every_days,
                        max_times=r.max_times, summary=r.summary)


def item_out(c: ContractItem) -> ContractItemOut:
    return ContractItemOut(
        id=c.id, number=c.number, title=c.title, state=c.state, state_label=c.state_label,
        enterprise_name=c.enterprise_name, created_at=c.created_at, sent_at=c.sent_at,
        completed_at=c.completed_at, deadline=c.deadline,
    )


def contract_out(v: ContractView) -> ContractOut:
    return ContractOut(
        id=v.id, number=v.number, business_type=v.business_type,
        confidential=v.confidential, cc=list(v.cc_names), title=v.title,
        state=v.state, state_label=v.state_label,
        enterprise_id=v.enterprise_id, enterprise_name=v.enterprise_name,
        created_at=v.created_at, sent_at=v.sent_at, completed_at=v.completed_at,
        deadline=v.deadline, end_reason=v.end_reason, page_count=v.page_count,
        document_sha256=v.document_sha256, version=v.version,
        signers=[
            SignerOut(
                id=s.id, party=s.party, name=s.name, phone_masked=s.phone_masked,
                order=s.order, state=s.state, state_label=s.state_label,
                signed_at=s.signed_at, reject_reason=s.reject_reason,
                boxes=[BoxOut(field_name=b.field_name, page=b.page + 1, rect=b.rect,
                              signed=b.signed) for b in s.boxes],
            )
            for s in v.signers
        ],
        my_signer_id=v.my_signer_id, my_signer_state=v.my_signer_state,
        can_sign=v.can_sign, can_reject=v.can_reject, can_revoke=v.can_revoke,
        can_download=v.can_download, identity_verified=v.identity_verified,
        has_signature=v.has_signature, can_urge=v.can_urge, urge_label=v.urge_label,
        next_urge_at=v.next_urge_at,
    )


def bulk_out(rows: list[ending.BulkOutcome]) -> BulkOut:
    return BulkOut(
        done=sum(1 for r in rows if r.ok), failed=sum(1 for r in rows if not r.ok),
        items=[BulkItemOut(contract_id=r.contract_id, ok=r.ok, code=r.code,
                           message=r.message,
                           next_urge_at=getattr(r, "next_urge_at", None)) for r in rows])


async def _create_form(request: web.Request) -> tuple[dict[str, str], bytes, str]:
    limit = request.app[DEPS].config.signing.max_upload_bytes
    if request.content_length and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(f"PDF 文件不能超过 {limit // (1024 * 1024)} MB",
                              code="pdf_too_large")
    if not request.content_type.startswith("multipart/"):
        raise InvalidInput("请以 multipart/form-data 上传", code="upload_expected")
    post = await read_form(request)
    fields = {k: v for k, v in post.items() if isinstance(v, str)}
    upload = uploaded_file(post, "file", limit)
    if upload is None:
        raise InvalidInput("请上传 PDF 文件（字段 file）", code="empty_upload", field="file")
    return fields, upload[0], upload[1] or "contract.pdf"


@api.route("POST", "/contracts", summary="Upload a PDF, place boxes, pick signers and send",
           body=CreateIn, response=ContractOut, status=201, upload=True)
async def create_contract(request: web.Request) -> web.Response:
    session = require_session(request)
    fields, data, filename = await _create_form(request)
    try:
        raw_signers = json.loads(fields.get("signers") or "[]")
    except ValueError:
        raise InvalidInput("signers 须为 JSON 数组", code="invalid_signers",
                           field="signers") from None
    try:
        raw_cc = json.loads(fields.get("cc") or "[]")
    except ValueError:
        raise InvalidInput("cc 须为 JSON 数组", code="invalid_cc", field="cc") from None
    flags = {}
    for name in ("confidential", "page_qr", "cross_seal"):
        flag = (fields.get(name) or "false").strip().lower()
        if flag not in ("true", "false", "1", "0"):
            raise InvalidInput(f"{name} 须为 true 或 false", code="invalid_input", field=name)
        flags[name] = flag in ("true", "1")
    body = CreateIn.model_validate({
        "enterprise_id": fields.get("enterprise_id", ""), "title": fields.get("title", ""),
        "signers": raw_signers, "deadline": fields.get("deadline") or None, "file": b"",
        "business_type_id": fields.get("business_type_id") or None,
        **flags, "cc": raw_cc, "reject_by": fields.get("reject_by") or "all",
    })
    specs = [
        SignerSpec(s.party, tuple(Box(b.page - 1, b.rect) for b in s.boxes), name=s.name,
                   phone=s.phone, seal_id=s.seal_id, order=s.order)
        for s in body.signers
    ]
    deps = request.app[DEPS]
    contract_id = await send.create_and_send(
        deps, session.user_id, body.enterprise_id, title=body.title, filename=filename,
        pdf=data, signers=specs, deadline=body.deadline, meta=request_meta(request),
        business_type_id=body.business_type_id,
        options=Options(confidential=body.confidential,
                        cc=tuple(CcSpec(c.member_id, c.phone, c.name) for c in body.cc),
                        page_qr=body.page_qr, cross_seal=body.cross_seal,
                        reject_by=body.reject_by))
    view = await access.view_contract(deps, session.user_id, contract_id)
    return reply(contract_out(view), status=201)


@api.route("GET", "/contracts", summary="My contracts (tab: to_sign, waiting, completed, "
           "ended, initiated, cc), searched and filtered by state", response=ContractListOut,
           query=ContractListQuery)
async def list_contracts(request: web.Request) -> web.Response:
    session = require_session(request)
    tab = request.query.get("tab", "to_sign")
    items = await access.list_contracts(request.app[DEPS], session.user_id, tab,
                                        q=request.query.get("q", ""),
                                        state=request.query.get("state", ""))
    return reply(ContractListOut(tab=tab, items=[item_out(c) for c in items]))


def ledger_item_out(i: ledger.LedgerItem) -> LedgerItemOut:
    return LedgerItemOut(
        id=i.id, number=i.number, title=i.title, state=i.state, state_label=i.state_label,
        business_type_id=i.business_type_id, business_type=i.business_type,
        confidential=i.confidential, signers=i.signers, signed=i.signed, total=i.total,
        signer_names=i.signer_names, signer_phones=i.signer_phones,
        departments=i.departments, cc=i.cc, initiator_name=i.initiator_name,
        created_at=i.created_at, sent_at=i.sent_at, deadline=i.deadline,
        completed_at=i.completed_at, can_urge=i.can_urge, urge_label=i.urge_label,
        next_urge_at=i.next_urge_at, can_revoke=i.can_revoke)


@api.route("GET", "/enterprises/{enterprise_id}/contracts",
           summary="The enterprise's contract ledger: the contracts the member may see "
           "(business types, confidential), searched, filtered, sorted, paged",
           response=LedgerOut, query=LedgerQueryIn)
async def enterprise_ledger(request: web.Request) -> web.Response:
    session = require_session(request)
    query = ledger.parse_query(request.query)
    page = await ledger.ledger(request.app[DEPS], session.user_id,
                               request.match_info["enterprise_id"], query)
    return reply(LedgerOut(total=page.total, page=query.page, per_page=query.per_page,
                           pages=page.pages, items=[ledger_item_out(i) for i in page.items]))


@api.route("GET", "/enterprises/{enterprise_id}/contracts/export",
           summary="The filtered ledger as .xlsx (same filters; at most 10,000 rows; "
           "phones masked, no ID numbers)",
           response_content_type="application/vnd.openxmlformats-officedocument."
           "spreadsheetml.sheet", query=LedgerQueryIn)
async def export_ledger(request: web.Request) -> web.Response:
    session = require_session(request)
    export = await ledger.export(request.app[DEPS], session.user_id,
                                 request.match_info["enterprise_id"],
                                 ledger.parse_query(request.query))
    return web.Response(
        body=export.data,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition":
                 f"attachment; filename*=UTF-8''{quote(export.filename)}",
                 "Cache-Control": "private, no-store", "X-Row-Count": str(export.rows)})


@api.route("GET", "/contracts/{id}", summary="One contract, with signers and boxes",
           response=ContractOut)
async def get_contract(request: web.Request) -> web.Response:
    session = require_session(request)
    view = await access.view_contract(request.app[DEPS], session.user_id,
                                      request.match_info["id"])
    return reply(contract_out(view))


@api.route("POST", "/contracts/{id}/sign/code", summary="Send the SMS code that confirms signing",
           body=CodeIn, response=CodeOut)
async def request_sign_code(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, CodeIn)
    sent = await signing.request_sign(request.app[DEPS], session.user_id,
                                      request.match_info["id"], request_meta(request),
                                      body.signer_id)
    return reply(CodeOut(signer_id=sent.signer_id, phone_masked=sent.phone_masked))


@api.route("POST", "/contracts/{id}/sign", summary="Confirm with the SMS code and sign "
           "(idempotent)", body=SignIn, response=SignOut)
async def sign_contract(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, SignIn)
    outcome = await signing.confirm_sign(request.app[DEPS], session.user_id,
                                         request.match_info["id"], body.code,
                                         request_meta(request), body.signer_id)
    return reply(SignOut(contract_id=outcome.contract_id, signer_id=outcome.signer_id,
                         state=outcome.state, contract_state=outcome.contract_state))


@api.route("POST", "/contracts/{id}/reject", summary="Refuse to sign (ends the contract)",
           body=ReasonIn, response=ContractOut)
async def reject_contract(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, ReasonIn)
    deps = request.app[DEPS]
    await ending.reject_contract(deps, session.user_id, request.match_info["id"], body.reason,
                                 request_meta(request))
    return reply(contract_out(await access.view_contract(deps, session.user_id,
                                                         request.match_info["id"])))


@api.route("POST", "/contracts/{id}/revoke", summary="Withdraw a contract (initiator)",
           body=ReasonIn, response=ContractOut)
async def revoke_contract(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, ReasonIn)
    deps = request.app[DEPS]
    await ending.revoke_contract(deps, session.user_id, request.match_info["id"], body.reason,
                                 request_meta(request))
    return reply(contract_out(await access.view_contract(deps, session.user_id,
                                                         request.match_info["id"])))


@api.route("POST", "/contracts/{id}/urge", summary="Urge (催办) the pending signers by WeChat "
           "or SMS; once per signer per 10 hours (429 urge_too_soon)", body=UrgeIn,
           response=UrgeOut)
async def urge_contract(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, UrgeIn)
    done = await urging.urge_contract(request.app[DEPS], session.user_id,
                                      request.match_info["id"], request_meta(request),
                                      signer_id=body.signer_id)
    return reply(UrgeOut(contract_id=done.contract_id, urged=list(done.urged),
                         skipped=list(done.skipped), next_urge_at=done.next_urge_at))


@api.route("POST", "/contracts/urge", summary="Urge many contracts at once (each on its own)",
           body=BulkIn, response=BulkOut)
async def urge_contracts(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, BulkIn)
    rows = await urging.urge_many(request.app[DEPS], session.user_id, body.contract_ids,
                                  request_meta(request))
    return reply(bulk_out(list(rows)))


@api.route("POST", "/contracts/revoke", summary="Revoke many contracts with one reason "
           "(each on its own; signed parties are told)", body=BulkRevokeIn, response=BulkOut)
async def revoke_contracts(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, BulkRevokeIn)
    rows = await ending.revoke_many(request.app[DEPS], session.user_id, body.contract_ids,
                                    body.reason, request_meta(request))
    return reply(bulk_out(rows))


@api.route("GET", "/enterprises/{id}/contract-reminders",
           summary="The enterprise's automatic reminder schedule", response=RemindersOut)
async def get_reminders(request: web.Request) -> web.Response:
    session = require_session(request)
    schedule = await reminders.reminder_schedule(request.app[DEPS], session.user_id,
                                                 request.match_info["id"])
    return reply(reminders_out(schedule))


@api.route("PUT", "/enterprises/{id}/contract-reminders",
           summary="Set the automatic reminder schedule (contracts.send); contracts in "
           "progress follow it", body=RemindersIn, response=RemindersOut)
async def set_reminders(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, RemindersIn)
    schedule = await reminders.set_reminder_schedule(
        request.app[DEPS], session.user_id, request.match_info["id"], enabled=body.enabled,
        first_days=body.first_days, every_days=body.every_days, max_times=body.max_times,
        meta=request_meta(request))
    return reply(reminders_out(schedule))


@api.route("GET", "/contracts/{id}/document", summary="The current PDF (signed once completed)",
           response_content_type="application/pdf")
async def download_contract(request: web.Request) -> web.Response:
    session = require_session(request)
    doc = await access.download(request.app[DEPS], session.user_id, request.match_info["id"])
    return web.Response(
        body=doc.data, content_type="application/pdf",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(doc.filename)}",
                 "X-Document-SHA256": doc.sha256, "Cache-Control": "private, no-store"},
    )
