"""Enterprise JSON API: certification, join requests, members, seals, employees."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from core.enterprise import certification as C
from core.enterprise import employee_import as I
from core.enterprise import employees as E
from core.enterprise import members as M
from core.enterprise import seals as S
from core.errors import InvalidInput
from handlers.api.registry import ApiRoutes, flag, parse, reply, required_upload
from handlers.keys import DEPS
from handlers.util import bounded_int, request_meta, require_session

api = ApiRoutes("enterprise")


# ---------------------------------------------------------------- models


class EnterpriseOut(BaseModel):
    id: str
    name: str
    credit_code: str
    state: str
    state_label: str
    rejection_reason: str | None
    main_admin_id: str | None
    certified_at: datetime | None
    waiting_for_code_check: bool


class MyEnterprisesOut(BaseModel):
    certified_by_me: list[EnterpriseOut]
    joined: list[EnterpriseOut]


class SubmitIn(BaseModel):
    name: str
    credit_code: str
    address: str
    legal_rep_name: str
    legal_rep_id_number: str
    certificate_kind: Literal["cloud", "hardware"] = "cloud"
    accept_check_warning: bool = False
    licence: bytes = Field(description="business licence photo, JPEG or PNG, at most 10 MB")


class AttemptOut(BaseModel):
    id: str
    enterprise_id: str
    purpose: str
    method: str
    state: str
    state_label: str
    tries_left: int | None
    expires_at: datetime | None
    review_reason: str | None
    data: dict[str, Any]


class CertificationOut(BaseModel):
    enterprise: EnterpriseOut
    attempts: list[AttemptOut]


class DepositIn(BaseModel):
    account_name: str
    account_number: str
    bank_name: str
    purpose: Literal["certify", "appeal"] = "certify"


class AmountIn(BaseModel):
    amount: str = Field(description="the amount received, e.g. \"0.37\"")


class PhoneIn(BaseModel):
    phone: str
    purpose: Literal["certify", "appeal"] = "certify"


class CodeIn(BaseModel):
    code: str


class HitOut(BaseModel):
    id: str
    name: str
    credit_code_masked: str


class HitsOut(BaseModel):
    enterprises: list[HitOut]


class JoinIn(BaseModel):
    reason: str


class JoinOut(BaseModel):
    id: str
    enterprise_id: str
    enterprise_name: str
    applicant_name: str | None
    applicant_phone_masked: str
    reason: str
    state: str
    reject_reason: str | None
    created_at: datetime


class JoinListOut(BaseModel):
    requests: list[JoinOut]


class DecisionIn(BaseModel):
    approve: bool
    role_ids: list[str] = []
    business_type_ids: list[str] = []
    seal_ids: list[str] = []
    reason: str = ""


class MemberOut(BaseModel):
    id: str
    user_id: str | None
    display_name: str
    phone_masked: str
    status: str
    role_ids: list[str]
    role_names: list[str]
    business_type_ids: list[str]
    is_main_admin: bool


class MembersOut(BaseModel):
    members: list[MemberOut]


class AddMemberIn(BaseModel):
    phone: str
    name: str
    role_ids: list[str]
    business_type_ids: list[str] = []


class SealOut(BaseModel):
    id: str
    name: str
    kind: str
    status: str
    image_state: str
    auto_sign: bool
    grantee_member_ids: list[str]


class SealsOut(BaseModel):
    seals: list[SealOut]


class EmployeeOut(BaseModel):
    id: str
    name: str
    phone: str
    id_number_masked: str | None
    department: str | None
    position: str | None
    start_date: date | None
    resign_date: date | None
    status: str
    reject_reason: str | None


class EmployeesOut(BaseModel):
    employees: list[EmployeeOut]
    total: int
    offset: int
    limit: int


class OnboardIn(BaseModel):
    name: str
    phone: str
    id_number: str | None = None
    department: str | None = Field(None, description="department id, name or path")
    position: str | None = None
    start_date: str | None = None
    send_link: bool = True


class ReviewIn(BaseModel):
    approve: bool
    reason: str = ""


class ImportIn(BaseModel):
    file: bytes = Field(description=".xlsx made from the template, at most 10 MB")
    activate: bool = False


class RowErrorOut(BaseModel):
    row: int
    field: str
    message: str


class ImportOut(BaseModel):
    imported: int
    total_rows: int
    errors: list[RowErrorOut]


# ---------------------------------------------------------------- helpers


def _ent_out(v: C.EnterpriseView) -> EnterpriseOut:
    return EnterpriseOut(id=v.id, name=v.name, credit_code=v.credit_code, state=v.state,
                         state_label=v.state_label, rejection_reason=v.rejection_reason,
                         main_admin_id=v.main_admin_id, certified_at=v.certified_at,
                         waiting_for_code_check=v.waiting_for_code_check)


def _attempt_out(a: C.AttemptView) -> AttemptOut:
    return AttemptOut(id=a.id, enterprise_id=a.enterprise_id, purpose=a.purpose,
                      method=a.method, state=a.state, state_label=a.state_label,
                      tries_left=a.tries_left, expires_at=a.expires_at,
                      review_reason=a.review_reason, data=dict(a.data))


def _join_out(j: M.JoinRequestView) -> JoinOut:
    return JoinOut(id=j.id, enterprise_id=j.enterprise_id, enterprise_name=j.enterprise_name,
                   applicant_name=j.applicant_name,
                   applicant_phone_masked=j.applicant_phone_masked, reason=j.reason,
                   state=j.state, reject_reason=j.reject_reason, created_at=j.created_at)


def _member_out(m: M.MemberView) -> MemberOut:
    return MemberOut(id=m.id, user_id=m.user_id, display_name=m.display_name,
                     phone_masked=m.phone_masked, status=m.status, role_ids=list(m.role_ids),
                     role_names=list(m.role_names), business_type_ids=list(m.business_type_ids),
                     is_main_admin=m.is_main_admin)


def _employee_out(e: E.EmployeeView) -> EmployeeOut:
    return EmployeeOut(id=e.id, name=e.name, phone=e.phone, id_number_masked=e.id_number_masked,
                       department=e.department, position=e.position, start_date=e.start_date,
                       resign_date=e.resign_date, status=e.status, reject_reason=e.reject_reason)





# ---------------------------------------------------------------- certification


@api.route("GET", "/enterprises", summary="Enterprises I certified and joined",
           response=MyEnterprisesOut)
async def my_enterprises(request: web.Request) -> web.Response:
    session = require_session(request)
    mine, joined = await C.my_enterprises(request.app[DEPS], session.user_id)
    return reply(MyEnterprisesOut(certified_by_me=[_ent_out(e) for e in mine],
                                  joined=[_ent_out(e) for e in joined]))


@api.route("POST", "/enterprises", summary="Submit an enterprise for certification",
           body=SubmitIn, response=EnterpriseOut, status=201, upload=True)
async def submit_enterprise(request: web.Request) -> web.Response:
    session = require_session(request)
    fields, licence = await required_upload(request, "licence")
    data = C.EnterpriseInput(
        name=fields.get("name", ""), credit_code=fields.get("credit_code", ""),
        address=fields.get("address", ""), legal_rep_name=fields.get("legal_rep_name", ""),
        legal_rep_id_number=fields.get("legal_rep_id_number", ""),
        certificate_kind=fields.get("certificate_kind", "cloud"),
    )
    view = await C.submit_enterprise(
        request.app[DEPS], session.user_id, data, licence, request_meta(request),
        accept_check_warning=flag(fields.get("accept_check_warning")),
    )
    return reply(_ent_out(view), status=201)


@api.route("GET", "/enterprises/{enterprise_id}/certification",
           summary="Certification state and attempts (certifier only)", response=CertificationOut)
async def certification(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, attempts = await C.certification_status(request.app[DEPS], session.user_id,
                                                  request.match_info["enterprise_id"])
    return reply(CertificationOut(enterprise=_ent_out(ent),
                                  attempts=[_attempt_out(a) for a in attempts]))


@api.route("POST", "/enterprises/{enterprise_id}/certification/deposit",
           summary="Start micro-deposit verification", body=DepositIn, response=AttemptOut,
           status=201)
async def start_deposit(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, DepositIn)
    attempt = await C.start_deposit(
        request.app[DEPS], session.user_id, request.match_info["enterprise_id"],
        account_name=body.account_name, account_number=body.account_number,
        bank_name=body.bank_name, meta=request_meta(request), purpose=body.purpose,
    )
    return reply(_attempt_out(attempt), status=201)


@api.route("POST", "/certification-attempts/{attempt_id}/deposit",
           summary="Confirm the amount received (3 tries; restarts limited per day)",
           body=AmountIn, response=AttemptOut)
async def confirm_deposit(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, AmountIn)
    attempt = await C.confirm_deposit(request.app[DEPS], session.user_id,
                                      request.match_info["attempt_id"], body.amount,
                                      request_meta(request))
    return reply(_attempt_out(attempt))


@api.route("POST", "/enterprises/{enterprise_id}/certification/phone",
           summary="Send an authorisation code to the legal representative's phone",
           body=PhoneIn, response=AttemptOut, status=201)
async def start_phone(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, PhoneIn)
    attempt = await C.start_phone(request.app[DEPS], session.user_id,
                                  request.match_info["enterprise_id"], body.phone,
                                  request_meta(request), purpose=body.purpose)
    return reply(_attempt_out(attempt), status=201)


@api.route("POST", "/certification-attempts/{attempt_id}/phone",
           summary="Confirm the legal representative's authorisation code", body=CodeIn,
           response=AttemptOut)
async def confirm_phone(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, CodeIn)
    attempt = await C.confirm_phone(request.app[DEPS], session.user_id,
                                    request.match_info["attempt_id"], body.code,
                                    request_meta(request))
    return reply(_attempt_out(attempt))


# ---------------------------------------------------------------- join requests & members


@api.route("GET", "/enterprise-search", summary="Search certified enterprises (?q=)",
           response=HitsOut)
async def search(request: web.Request) -> web.Response:
    session = require_session(request)
    hits = await M.search_enterprises(request.app[DEPS], session.user_id,
                                      request.query.get("q", "")[:60])
    return reply(HitsOut(enterprises=[HitOut(**asdict(h)) for h in hits]))


@api.route("POST", "/enterprises/{enterprise_id}/join-requests",
           summary="Apply to join a certified enterprise", body=JoinIn, response=JoinOut,
           status=201)
async def request_join(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, JoinIn)
    view = await M.request_join(request.app[DEPS], session.user_id,
                                request.match_info["enterprise_id"], body.reason,
                                request_meta(request))
    return reply(_join_out(view), status=201)


@api.route("GET", "/enterprises/{enterprise_id}/join-requests",
           summary="Pending join requests (join.review)", response=JoinListOut)
async def list_joins(request: web.Request) -> web.Response:
    session = require_session(request)
    rows = await M.list_join_requests(request.app[DEPS], session.user_id,
                                      request.match_info["enterprise_id"])
    return reply(JoinListOut(requests=[_join_out(j) for j in rows]))


@api.route("POST", "/enterprises/{enterprise_id}/join-requests/{request_id}/decision",
           summary="Approve (roles, business types, seal grants) or reject", body=DecisionIn,
           response=JoinOut)
async def decide_join(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, DecisionIn)
    view = await M.decide_join(
        request.app[DEPS], session.user_id, request.match_info["enterprise_id"],
        request.match_info["request_id"], approve=body.approve, role_ids=body.role_ids,
        business_type_ids=body.business_type_ids, seal_ids=body.seal_ids, reason=body.reason,
        meta=request_meta(request),
    )
    return reply(_join_out(view))


@api.route("GET", "/enterprises/{enterprise_id}/members", summary="Members (members.view)",
           response=MembersOut)
async def list_members(request: web.Request) -> web.Response:
    session = require_session(request)
    rows = await M.list_members(request.app[DEPS], session.user_id,
                                request.match_info["enterprise_id"])
    return reply(MembersOut(members=[_member_out(m) for m in rows]))


@api.route("POST", "/enterprises/{enterprise_id}/members",
           summary="Add a member by phone (SMS invitation)", body=AddMemberIn,
           response=MemberOut, status=201)
async def add_member(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, AddMemberIn)
    view = await M.add_member(request.app[DEPS], session.user_id,
                              request.match_info["enterprise_id"], phone=body.phone,
                              name=body.name, role_ids=body.role_ids,
                              business_type_ids=body.business_type_ids,
                              meta=request_meta(request))
    return reply(_member_out(view), status=201)


@api.route("GET", "/enterprises/{enterprise_id}/seals", summary="Seals (seals.view)",
           response=SealsOut)
async def list_seals(request: web.Request) -> web.Response:
    session = require_session(request)
    rows = await S.list_seals(request.app[DEPS], session.user_id,
                              request.match_info["enterprise_id"])
    return reply(SealsOut(seals=[SealOut(
        id=s.id, name=s.name, kind=s.kind, status=s.status, image_state=s.image_state,
        auto_sign=s.auto_sign, grantee_member_ids=list(s.grantee_member_ids)) for s in rows]))


# ---------------------------------------------------------------- employees


@api.route("GET", "/enterprises/{enterprise_id}/employees",
           summary="Roster (?status=active|pending_review|…&q=&offset=)",
           response=EmployeesOut)
async def list_employees(request: web.Request) -> web.Response:
    session = require_session(request)
    status = request.query.get("status", "active")
    if status not in E.STATUS_LABELS:
        raise InvalidInput("未知的员工状态", code="invalid_status", field="status")
    offset = bounded_int(request.query.get("offset"), "offset", default=0)
    page = await E.list_employees(request.app[DEPS], session.user_id,
                                  request.match_info["enterprise_id"], statuses=[status],
                                  q=request.query.get("q", "")[:40], offset=offset)
    return reply(EmployeesOut(employees=[_employee_out(e) for e in page.items],
                              total=page.total, offset=page.offset, limit=page.limit))


@api.route("POST", "/enterprises/{enterprise_id}/employees",
           summary="Onboard one employee (SMS collection link by default)", body=OnboardIn,
           response=EmployeeOut, status=201)
async def onboard(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, OnboardIn)
    raw = {k: v for k, v in body.model_dump().items() if k != "send_link" and v}
    view = await E.onboard_employee(request.app[DEPS], session.user_id,
                                    request.match_info["enterprise_id"], raw,
                                    request_meta(request), send_link=body.send_link)
    return reply(_employee_out(view), status=201)


@api.route("POST", "/enterprises/{enterprise_id}/employees/{employee_id}/review",
           summary="Approve or reject (with reason) an employee's information",
           body=ReviewIn, response=EmployeeOut)
async def review(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, ReviewIn)
    view = await E.review_employee(request.app[DEPS], session.user_id,
                                   request.match_info["enterprise_id"],
                                   request.match_info["employee_id"], approve=body.approve,
                                   reason=body.reason, meta=request_meta(request))
    return reply(_employee_out(view))


@api.route("POST", "/enterprises/{enterprise_id}/employees/import",
           summary="Import employees from the Excel template (all rows or none)",
           body=ImportIn, response=ImportOut, upload=True)
async def import_employees(request: web.Request) -> web.Response:
    session = require_session(request)
    fields, data = await required_upload(request, "file")
    report = await I.import_employees(request.app[DEPS], session.user_id,
                                      request.match_info["enterprise_id"], data,
                                      request_meta(request),
                                      activate=flag(fields.get("activate")))
    body = ImportOut(imported=report.imported, total_rows=report.total_rows,
                     errors=[RowErrorOut(row=e.row, field=e.field, message=e.message)
                             for e in report.errors])
    return reply(body, status=200 if report.ok else 422)
