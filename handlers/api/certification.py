"""Certification and admin-appeal JSON API: every proof method the console offers (the
deposit and legal-rep phone routes are in enterprise.py), resubmitting after 驳回,
revoking, the licence photo, and the admin appeal (申诉), which is proven by the same
methods with purpose "appeal". Each route calls the console's verb; the certifier or
appellant check lives there. No API key may call these (core/integration/api_keys.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from core.enterprise import admin_change as A
from core.enterprise import certification as C
from handlers.api.enterprise import (
    AttemptOut,
    EnterpriseOut,
    _attempt_out,
    _ent_out,
)
from handlers.api.registry import ApiRoutes, flag, parse, reply, upload_fields
from handlers.keys import DEPS
from handlers.util import request_meta, require_session

api = ApiRoutes("certification")

ENT = "/enterprises/{enterprise_id}"
ATTEMPT = "/certification-attempts/{attempt_id}"


# ---------------------------------------------------------------- models


class PurposeIn(BaseModel):
    purpose: Literal["certify", "appeal"] = "certify"


class FaceStartOut(BaseModel):
    attempt: AttemptOut
    redirect_url: str = Field(
        description="open in the legal representative's browser; the provider returns "
                    "to the console, then POST …/face/result reads the outcome")


class LetterUploadIn(BaseModel):
    photo: bytes = Field(description="photo of the stamped letter, JPEG or PNG, ≤ 10 MB")


class ResubmitIn(BaseModel):
    name: str
    credit_code: str
    address: str
    legal_rep_name: str
    legal_rep_id_number: str
    certificate_kind: Literal["cloud", "hardware"] = "cloud"
    accept_check_warning: bool = False
    licence: bytes | None = Field(None, description="a new licence photo (optional), "
                                                    "JPEG or PNG, at most 10 MB")


class AppealOut(BaseModel):
    id: str
    enterprise_id: str
    enterprise_name: str
    kind: str
    state: str = Field(description="pending | done | failed | cancelled")
    state_label: str
    from_user_id: str | None
    to_user_id: str
    created_at: datetime
    completed_at: datetime | None


class AppealsOut(BaseModel):
    appeals: list[AppealOut]


def _appeal_out(v: A.AdminChangeView) -> AppealOut:
    return AppealOut(id=v.id, enterprise_id=v.enterprise_id, enterprise_name=v.enterprise_name,
                     kind=v.kind, state=v.state, state_label=v.state_label,
                     from_user_id=v.from_user_id, to_user_id=v.to_user_id,
                     created_at=v.created_at, completed_at=v.completed_at)


def _ent(request: web.Request) -> str:
    return request.match_info["enterprise_id"]


def _attempt(request: web.Request) -> str:
    return request.match_info["attempt_id"][:64]


async def _form(request: web.Request, file_field: str, *, required: bool
                ) -> tuple[dict[str, str], bytes | None]:
    # Without a file to send, a client may post the fields as a plain form.
    return await upload_fields(request, file_field, required=required, plain_ok=not required)


# ---------------------------------------------------------------- attempts


@api.route("GET", ATTEMPT, summary="One certification or appeal attempt (its applicant only)",
           response=AttemptOut)
async def get_attempt(request: web.Request) -> web.Response:
    session = require_session(request)
    view = await C.get_attempt(request.app[DEPS], session.user_id, _attempt(request))
    return reply(_attempt_out(view))


@api.route("POST", ENT + "/certification/face",
           summary="Start the legal representative's face check (certifier, or appellant "
                   "with purpose=appeal)", body=PurposeIn, response=FaceStartOut, status=201)
async def start_face(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, PurposeIn)
    attempt, url = await C.start_face(request.app[DEPS], session.user_id, _ent(request),
                                      request_meta(request), purpose=body.purpose)
    return reply(FaceStartOut(attempt=_attempt_out(attempt), redirect_url=url), status=201)


@api.route("POST", ATTEMPT + "/face/result",
           summary="Ask the provider for the face check's outcome (passes or fails the "
                   "attempt; pending: try again later)", response=AttemptOut)
async def face_result(request: web.Request) -> web.Response:
    session = require_session(request)
    view = await C.face_result(request.app[DEPS], session.user_id, _attempt(request),
                               request_meta(request))
    return reply(_attempt_out(view))


@api.route("POST", ENT + "/certification/letter",
           summary="Use an authorisation letter: download it, stamp it, upload its photo "
                   "for review", body=PurposeIn, response=AttemptOut, status=201)
async def start_letter(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, PurposeIn)
    view = await C.start_letter(request.app[DEPS], session.user_id, _ent(request),
                                request_meta(request), purpose=body.purpose)
    return reply(_attempt_out(view), status=201)


@api.route("GET", ATTEMPT + "/letter.pdf", summary="The pre-filled authorisation letter",
           response_content_type="application/pdf")
async def letter_pdf(request: web.Request) -> web.Response:
    session = require_session(request)
    pdf = await C.letter_pdf(request.app[DEPS], session.user_id, _attempt(request))
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="authorization-letter.pdf"',
        "Cache-Control": "private, no-store"})


@api.route("POST", ATTEMPT + "/letter",
           summary="Upload the stamped letter's photo (multipart: photo); it then awaits "
                   "the platform's review", body=LetterUploadIn, response=AttemptOut,
           upload=True)
async def upload_letter(request: web.Request) -> web.Response:
    session = require_session(request)
    _, photo = await _form(request, "photo", required=True)
    assert photo is not None
    view = await C.upload_letter(request.app[DEPS], session.user_id, _attempt(request), photo,
                                 request_meta(request))
    return reply(_attempt_out(view))


@api.route("GET", ATTEMPT + "/letter-image", summary="The uploaded letter photo (applicant)",
           response_content_type="image/*")
async def letter_image(request: web.Request) -> web.Response:
    session = require_session(request)
    data, ctype = await C.letter_image(request.app[DEPS], session.user_id, _attempt(request))
    return web.Response(body=data, content_type=ctype,
                        headers={"Cache-Control": "private, no-store"})


# ---------------------------------------------------------------- the enterprise's side


@api.route("POST", ENT + "/certification/resubmit",
           summary="After 驳回: correct the information (multipart; licence optional) and "
                   "certify again (certifier only)", body=ResubmitIn, response=EnterpriseOut,
           upload=True)
async def resubmit(request: web.Request) -> web.Response:
    session = require_session(request)
    fields, licence = await _form(request, "licence", required=False)
    data = C.EnterpriseInput(
        name=fields.get("name", ""), credit_code=fields.get("credit_code", ""),
        address=fields.get("address", ""), legal_rep_name=fields.get("legal_rep_name", ""),
        legal_rep_id_number=fields.get("legal_rep_id_number", ""),
        certificate_kind=fields.get("certificate_kind", "cloud"),
    )
    view = await C.resubmit_enterprise(
        request.app[DEPS], session.user_id, _ent(request), data, licence,
        request_meta(request), accept_check_warning=flag(fields.get("accept_check_warning")))
    return reply(_ent_out(view))


@api.route("POST", ENT + "/certification/revoke",
           summary="Give up an unfinished certification (certifier only; never once "
                   "certified)", response=EnterpriseOut)
async def revoke(request: web.Request) -> web.Response:
    session = require_session(request)
    view = await C.revoke_certification(request.app[DEPS], session.user_id, _ent(request),
                                        request_meta(request))
    return reply(_ent_out(view))


@api.route("GET", ENT + "/licence",
           summary="The business licence photo (certifier or enterprise.manage)",
           response_content_type="image/*")
async def licence(request: web.Request) -> web.Response:
    session = require_session(request)
    data, ctype = await C.licence_image(request.app[DEPS], session.user_id, _ent(request))
    return web.Response(body=data, content_type=ctype,
                        headers={"Cache-Control": "private, no-store"})


# ---------------------------------------------------------------- admin appeal


@api.route("POST", ENT + "/appeal",
           summary="Appeal (申诉) to become the main admin; then prove it by a method with "
                   "purpose=appeal (verified person; certified enterprise)",
           response=AppealOut, status=201)
async def start_appeal(request: web.Request) -> web.Response:
    session = require_session(request)
    view = await A.start_appeal(request.app[DEPS], session.user_id, _ent(request),
                                request_meta(request))
    return reply(_appeal_out(view), status=201)


@api.route("GET", "/me/appeals", summary="My admin appeals, newest first",
           response=AppealsOut)
async def my_appeals(request: web.Request) -> web.Response:
    session = require_session(request)
    rows = await A.my_appeals(request.app[DEPS], session.user_id)
    return reply(AppealsOut(appeals=[_appeal_out(a) for a in rows]))
