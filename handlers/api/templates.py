"""Templates API: list, create (a PDF or Word .docx upload, or the model text), fields and
roles, replace the document, labour-law check, publish, versions, preview and send one
contract. The permission rules are the console's (core.templates.service:
templates.manage; contracts.send to read and send)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from core.contracts.send import Options
from core.errors import InvalidInput, PayloadTooLarge
from core.templates import lines, sending, service
from core.templates.lawcheck import LawReport
from handlers.api.contracts import REJECT_BY_HELP, RejectBy
from handlers.api.registry import ApiRoutes, parse, reply
from handlers.keys import DEPS
from handlers.util import bounded_int, read_form, request_meta, require_session, uploaded_file

api = ApiRoutes(tag="templates")

BASE = "/enterprises/{enterprise_id}/templates"
BusinessType = Literal["劳动合同", "劳务派遣合同", "保密协议", "实习协议", "劳务合同", "其他"]


class RoleIO(BaseModel):
    key: str = Field(max_length=32, description="identifier, e.g. ent, emp")
    party: Literal["enterprise", "person"]
    name: str = Field(max_length=20, description="e.g. 甲方, 乙方")
    order: int = Field(ge=1, le=10, description="signing order; equal orders sign in parallel")


class PlacementIO(BaseModel):
    page: int = Field(ge=0, le=500, description="0-based page index")
    x: float = Field(ge=0, le=1, description="left edge, fraction of the page width")
    y: float = Field(ge=0, le=1, description="top edge, fraction of the page height")
    w: float = Field(gt=0, le=1)
    h: float = Field(gt=0, le=1)


class FieldIO(BaseModel):
    key: str = Field(max_length=32)
    kind: Literal["text", "date", "number", "id_number", "phone", "checkbox", "sign_date",
                  "signature", "seal"]
    label: str = Field(default="", max_length=40)
    role: str = Field(default="", max_length=32, description="role key (signing kinds)")
    filler: Literal["sender", "employee"] = "sender"
    required: bool = False
    font_size: float = Field(default=10.5, ge=6, le=36)
    format: str = Field(default="", max_length=20,
                        description="date/sign_date: ymd_cn, iso, slash or dot")
    default: str = Field(default="", max_length=200)
    placements: list[PlacementIO] = Field(min_length=1, max_length=10)


class TemplateOut(BaseModel):
    id: str
    name: str
    business_type: str
    state: str
    state_label: str
    published_version: int
    has_unpublished_changes: bool
    page_count: int
    page_sizes: list[tuple[float, float]]
    roles: list[RoleIO]
    fields: list[FieldIO]
    updated_at: datetime


class TemplateListOut(BaseModel):
    items: list[TemplateOut]


class CreateIn(BaseModel):
    """multipart/form-data: these fields (roles as a JSON array, optional) and `file`."""

    name: str = Field(max_length=100)
    business_type: BusinessType
    roles: list[RoleIO] | None = Field(default=None, max_length=5)
    file: bytes = Field(description="the PDF, or a Word .docx converted to PDF here (binary "
                                    "part; told apart by content; 415 docx_unsupported "
                                    "where no converter is installed)")


class FileIn(BaseModel):
    """multipart/form-data: the new PDF (or .docx) as `file`; fields are kept."""

    file: bytes = Field(description="the PDF, or a Word .docx converted to PDF here")


class ModelIn(BaseModel):
    name: str = Field(default="", max_length=100)


class UpdateIn(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    business_type: BusinessType | None = None
    roles: list[RoleIO] | None = Field(default=None, max_length=5)


class FieldsIn(BaseModel):
    fields: list[FieldIO] = Field(max_length=60)


class ClauseOut(BaseModel):
    key: str
    label: str
    ok: bool
    reason: str
    missing: list[str]


class LawCheckOut(BaseModel):
    ok: bool
    text_found: bool
    clauses: list[ClauseOut]


class PublishOut(BaseModel):
    version: int
    law_check: LawCheckOut | None


class VersionOut(BaseModel):
    id: str
    version: int
    name: str
    business_type: str
    sha256: str
    page_count: int
    fields: list[FieldIO]
    roles: list[RoleIO]
    law_check: LawCheckOut | None
    published_at: datetime


class VersionListOut(BaseModel):
    items: list[VersionOut]


class PartyIn(BaseModel):
    role: str = Field(max_length=32, description="a person role's key")
    name: str = Field(default="", max_length=40)
    phone: str = Field(default="", max_length=20)
    employee_id: str | None = Field(default=None, max_length=32,
                                    description="pick from the roster instead of name/phone")


class LineOut(BaseModel):
    kind: Literal["rule", "blank", "text"] = Field(
        description="rule: a drawn horizontal stroke; blank: a run of underscores; "
                    "text: a line of text (y is its baseline)")
    y: float = Field(description="fraction of the page height from the top")
    x0: float = Field(description="left end, fraction of the page width")
    x1: float = Field(description="right end (for text: where the text ends)")


class LinesOut(BaseModel):
    template_id: str
    version: int = Field(description="0: the draft's PDF")
    sha256: str = Field(description="the PDF the lines were read from")
    pages: list[list[LineOut]] = Field(description="per page (0-based), top to bottom")
    truncated: bool = Field(description="limits reached: pages, lines per page or time")


class LinesQuery(BaseModel):
    version: int | None = Field(default=None, ge=1,
                                description="a published version (default: the draft)")


class SendIn(BaseModel):
    signers: list[PartyIn] = Field(min_length=1, max_length=4)
    values: dict[str, str | bool] = Field(default_factory=dict, max_length=60,
                                          description="sender fields by key")
    title: str = Field(default="", max_length=100)
    deadline: datetime | None = None
    seal_id: str | None = Field(default=None, max_length=32)
    page_qr: bool = Field(default=False, description="防抽页: a verification QR on every page")
    cross_seal: bool = Field(default=False, description="骑缝章: the enterprise seal across "
                                                        "every page's right edge; the "
                                                        "enterprise must seal first")
    reject_by: RejectBy = Field(default="all", description=REJECT_BY_HELP)


class PreviewIn(BaseModel):
    values: dict[str, str | bool] = Field(default_factory=dict, max_length=60)


class SentOut(BaseModel):
    contract_id: str
    template_id: str
    version: int


def template_out(v: service.TemplateView) -> TemplateOut:
    return TemplateOut(
        id=v.id, name=v.name, business_type=v.business_type, state=v.state,
        state_label=v.state_label, published_version=v.published_version,
        has_unpublished_changes=v.dirty and v.published_version > 0,
        page_count=v.page_count, page_sizes=v.page_sizes,
        roles=[RoleIO(**r.as_json()) for r in v.roles],
        fields=[FieldIO(**f.as_json()) for f in v.fields], updated_at=v.updated_at,
    )


def law_out(r: LawReport | dict[str, Any] | None) -> LawCheckOut | None:
    if r is None:
        return None
    return LawCheckOut.model_validate(r.as_json() if isinstance(r, LawReport) else r)


def _ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["enterprise_id"], request.match_info.get("template_id", "")


async def _pdf_form(request: web.Request) -> tuple[dict[str, str], bytes, str | None]:
    limit = request.app[DEPS].config.signing.max_upload_bytes
    if request.content_length and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(f"文件不能超过 {limit // (1024 * 1024)} MB",
                              code="pdf_too_large")
    if not request.content_type.startswith("multipart/"):
        raise InvalidInput("请以 multipart/form-data 上传", code="upload_expected")
    post = await read_form(request)
    fields = {k: v for k, v in post.items() if isinstance(v, str)}
    upload = uploaded_file(post, "file", limit)
    if upload is None:
        raise InvalidInput("请上传 PDF 或 Word（.docx）文件（字段 file）", code="empty_upload",
                           field="file")
    return fields, upload[0], upload[1] or None


@api.route("GET", BASE, summary="The enterprise's templates (?published=1: sendable only)",
           response=TemplateListOut)
async def list_templates(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, _ = _ids(request)
    items = await service.list_templates(request.app[DEPS], session.user_id, ent,
                                         published_only=request.query.get("published") == "1")
    return reply(TemplateListOut(items=[template_out(t) for t in items]))


@api.route("POST", BASE, summary="Upload a PDF (or a Word .docx, "
           "converted to PDF) as a new draft template", body=CreateIn,
           response=TemplateOut, status=201, upload=True)
async def create_template(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, _ = _ids(request)
    fields, data, filename = await _pdf_form(request)
    try:
        roles = json.loads(fields["roles"]) if fields.get("roles") else None
    except ValueError:
        raise InvalidInput("roles 须为 JSON 数组", code="invalid_roles", field="roles") from None
    deps = request.app[DEPS]
    tid = await service.create_template(
        deps, session.user_id, ent, name=fields.get("name", ""),
        business_type=fields.get("business_type", ""), filename=filename, pdf=data,
        roles=roles, meta=request_meta(request))
    return reply(template_out(await service.get_template(deps, session.user_id, ent, tid)),
                 status=201)


@api.route("POST", BASE + "/model", summary="Import the 人社部 model labour contract as a "
           "draft template, fields placed", body=ModelIn, response=TemplateOut, status=201)
async def import_model(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, _ = _ids(request)
    body = await parse(request, ModelIn)
    deps = request.app[DEPS]
    tid = await service.import_model(deps, session.user_id, ent, name=body.name,
                                     meta=request_meta(request))
    return reply(template_out(await service.get_template(deps, session.user_id, ent, tid)),
                 status=201)


@api.route("GET", BASE + "/{template_id}", summary="One template (the draft)",
           response=TemplateOut)
async def get_template(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, tid = _ids(request)
    return reply(template_out(await service.get_template(request.app[DEPS], session.user_id,
                                                         ent, tid)))


@api.route("PATCH", BASE + "/{template_id}", summary="Rename, change business type or roles",
           body=UpdateIn, response=TemplateOut)
async def update_template(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, tid = _ids(request)
    body = await parse(request, UpdateIn)
    view = await service.update_template(
        request.app[DEPS], session.user_id, ent, tid, name=body.name,
        business_type=body.business_type,
        roles=[r.model_dump() for r in body.roles] if body.roles is not None else None,
        meta=request_meta(request))
    return reply(template_out(view))


@api.route("PUT", BASE + "/{template_id}/fields", summary="Replace the draft's fields",
           body=FieldsIn, response=TemplateOut)
async def put_fields(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, tid = _ids(request)
    body = await parse(request, FieldsIn)
    view = await service.update_template(
        request.app[DEPS], session.user_id, ent, tid,
        fields=[f.model_dump() for f in body.fields], meta=request_meta(request))
    return reply(template_out(view))


@api.route("POST", BASE + "/{template_id}/file", summary="Replace the document (PDF or .docx), "
           "keeping the fields",
           body=FileIn, response=TemplateOut, upload=True)
async def replace_file(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, tid = _ids(request)
    _, data, filename = await _pdf_form(request)
    view = await service.replace_pdf(request.app[DEPS], session.user_id, ent, tid,
                                     filename=filename, pdf=data, meta=request_meta(request))
    return reply(template_out(view))


@api.route("GET", BASE + "/{template_id}/law-check",
           summary="Labour-law clause check of the draft (劳动合同法 Art. 17)",
           response=LawCheckOut)
async def law_check(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, tid = _ids(request)
    report = await service.law_check(request.app[DEPS], session.user_id, ent, tid)
    return reply(law_out(report))


@api.route("POST", BASE + "/{template_id}/publish",
           summary="Publish the draft as a new immutable version (409 law_check_failed "
           "lists the missing clauses)", response=PublishOut)
async def publish(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, tid = _ids(request)
    version, report = await service.publish(request.app[DEPS], session.user_id, ent, tid,
                                            meta=request_meta(request))
    return reply(PublishOut(version=version, law_check=law_out(report)))


@api.route("GET", BASE + "/{template_id}/versions", summary="Published versions, newest first",
           response=VersionListOut)
async def versions(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, tid = _ids(request)
    rows = await service.list_versions(request.app[DEPS], session.user_id, ent, tid)
    return reply(VersionListOut(items=[
        VersionOut(id=v.id, version=v.version, name=v.name, business_type=v.business_type,
                   sha256=v.sha256, page_count=len(v.page_sizes),
                   fields=[FieldIO(**f.as_json()) for f in v.fields],
                   roles=[RoleIO(**r.as_json()) for r in v.roles],
                   law_check=law_out(v.law_check), published_at=v.published_at)
        for v in rows
    ]))


@api.route("POST", BASE + "/{template_id}/preview",
           summary="The latest version filled with these sender values (PDF)",
           body=PreviewIn, response_content_type="application/pdf")
async def preview(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, tid = _ids(request)
    body = await parse(request, PreviewIn)
    pdf, _ = await sending.preview(request.app[DEPS], session.user_id, ent, tid,
                                   dict(body.values), pages=0)
    return web.Response(body=pdf, content_type="application/pdf",
                        headers={"Cache-Control": "private, no-store"})


async def parties_of(request: web.Request, user_id: str, ent: str, signers: list[PartyIn]
                     ) -> dict[str, sending.Party]:
    out = {}
    for s in signers:
        if s.employee_id:
            person = await sending.roster_person(request.app[DEPS], user_id, ent, s.employee_id)
            out[s.role] = sending.Party(person.name, person.phone)
        else:
            out[s.role] = sending.Party(s.name, s.phone)
    return out


@api.route("POST", BASE + "/{template_id}/send",
           summary="Send one contract from the latest published version", body=SendIn,
           response=SentOut, status=201)
async def send_one(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, tid = _ids(request)
    body = await parse(request, SendIn)
    deps = request.app[DEPS]
    contract_id = await sending.send_from_template(
        deps, session.user_id, ent, tid,
        parties=await parties_of(request, session.user_id, ent, body.signers),
        values=dict(body.values), title=body.title, deadline=body.deadline,
        seal_id=body.seal_id, meta=request_meta(request),
        options=Options(page_qr=body.page_qr, cross_seal=body.cross_seal,
                        reject_by=body.reject_by))
    origin = await sending.contract_origin(deps, contract_id)
    return reply(SentOut(contract_id=contract_id, template_id=tid,
                         version=origin[1] if origin else 0), status=201)


@api.route("GET", BASE + "/{template_id}/pages/{page}",
           summary="One page of the draft's PDF as PNG, for placing fields (0-based page; "
                   "?w=200..2000 pixels wide)", response_content_type="image/png")
async def page_image(request: web.Request) -> web.Response:
    session = require_session(request)
    page = bounded_int(request.match_info["page"], "page", maximum=10_000)
    width = bounded_int(request.query.get("w"), "w", default=800, minimum=200, maximum=2000)
    png = await service.page_image(request.app[DEPS], session.user_id,
                                   request.match_info["enterprise_id"],
                                   request.match_info["template_id"], page, width)
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "private, max-age=86400"})


@api.route("GET", BASE + "/{template_id}/lines",
           summary="Text lines, underscores and horizontal rules of the PDF's pages as page "
                   "fractions, for snapping fields (?version=n: a published version)",
           response=LinesOut, query=LinesQuery)
async def page_lines(request: web.Request) -> web.Response:
    session = require_session(request)
    version = request.query.get("version")
    found = await lines.template_lines(
        request.app[DEPS], session.user_id, request.match_info["enterprise_id"],
        request.match_info["template_id"],
        bounded_int(version, "version", minimum=1, maximum=100_000) if version else None)
    return reply(LinesOut.model_validate(found))
