"""Organisation JSON API: dashboard, departments, roles, business types, member edit and
removal with hand-over, the audit log, enterprise settings, the main admin change and my
join requests. Each route calls the verb its console page calls; permissions are checked
there."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, Field

from core.enterprise import admin_change as A
from core.enterprise import certification as C
from core.enterprise import dashboard as D
from core.enterprise import departments as DP
from core.enterprise import employees as E
from core.enterprise import members as M
from core.enterprise import roles as R
from core.errors import InvalidInput
from handlers.api.enterprise import (
    EnterpriseOut,
    JoinListOut,
    JoinOut,
    MemberOut,
    _ent_out,
    _join_out,
    _member_out,
)
from handlers.api.registry import ApiRoutes, parse, reply
from handlers.console.labels import audit_label
from handlers.keys import DEPS
from handlers.util import bounded_int, request_meta, require_session

api = ApiRoutes("organisation")

MAX_IDS = 100  # roles, business types or hand-over assignments in one request


# ---------------------------------------------------------------- models


class TodoOut(BaseModel):
    kind: str = Field(description="to_seal | due_soon | rejected")
    id: str
    title: str
    when: datetime | None = Field(description="the deadline, or when it was rejected")
    note: str | None = Field(description="the rejection reason")


class MonthOut(BaseModel):
    month: str = Field(description="YYYY-MM")
    sent: int
    signed: int


class DashboardOut(BaseModel):
    enterprise_name: str
    state: str
    pending_reviews: int
    pending_joins: int
    collecting: int
    active_employees: int
    members: int
    seals_enabled: int
    months: list[MonthOut]
    can_review: bool
    can_join_review: bool
    to_seal: list[TodoOut]
    due_soon: list[TodoOut]
    rejected: list[TodoOut]


class DepartmentOut(BaseModel):
    id: str
    name: str
    parent_id: str | None
    depth: int
    path: str = Field(description="names from the top, joined by /")
    employee_count: int = Field(description="active employees directly in this department")


class DepartmentsOut(BaseModel):
    departments: list[DepartmentOut] = Field(description="depth-first order")


class DepartmentIn(BaseModel):
    name: str
    parent_id: str | None = None


class RenameIn(BaseModel):
    name: str


class MoveIn(BaseModel):
    parent_id: str | None = Field(None, description="null: move to the top level")


class RoleOut(BaseModel):
    id: str
    name: str
    builtin: str | None
    permissions: list[str]
    member_count: int


class RolesOut(BaseModel):
    roles: list[RoleOut]
    permissions: dict[str, str] = Field(description="every permission code → label")


class RoleIn(BaseModel):
    name: str
    permissions: list[str] = Field(max_length=50)


class BusinessTypeOut(BaseModel):
    id: str
    name: str


class BusinessTypesOut(BaseModel):
    business_types: list[BusinessTypeOut]


class BusinessTypeIn(BaseModel):
    name: str


class MemberUpdateIn(BaseModel):
    role_ids: list[str] = Field(max_length=MAX_IDS)
    business_type_ids: list[str] = Field([], max_length=MAX_IDS)
    display_name: str | None = None


class HandoverItemOut(BaseModel):
    key: str = Field(description="<kind>:<id>, the key to assign in a removal")
    kind: str
    label: str


class HandoverItemsOut(BaseModel):
    items: list[HandoverItemOut]


class RemoveMemberIn(BaseModel):
    assignments: dict[str, str] = Field(
        {}, max_length=1000,
        description="hand-over item key → id of the active member who takes it")
    all_to: str | None = Field(
        None, description="一键转交: member id taking every item not assigned separately")


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    action: str
    actor_id: str | None
    actor_name: str | None
    subject_type: str | None
    subject_id: str | None
    data: dict[str, Any]


class AuditOut(BaseModel):
    entries: list[AuditEntryOut] = Field(description="newest first")
    next_before_seq: int | None = Field(description="pass as before_seq for the next page")


# ---------------------------------------------------------------- helpers


def _ent(request: web.Request) -> str:
    return request.match_info["enterprise_id"]


def _dept_out(d: DP.DepartmentNode) -> DepartmentOut:
    return DepartmentOut(id=d.id, name=d.name, parent_id=d.parent_id, depth=d.depth,
                         path=d.path, employee_count=d.employee_count)


def _role_out(r: M.RoleView) -> RoleOut:
    return RoleOut(id=r.id, name=r.name, builtin=r.builtin, permissions=list(r.permissions),
                   member_count=r.member_count)


def _todo_out(t: D.ContractTodo) -> TodoOut:
    return TodoOut(kind=t.kind, id=t.id, title=t.title, when=t.when, note=t.note)


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidInput("日期格式应为 YYYY-MM-DD", code="invalid_date", field=field) from None


# ---------------------------------------------------------------- dashboard


@api.route("GET", "/enterprises/{enterprise_id}/dashboard",
           summary="Counts, monthly contracts and the to-do lists (enterprise.view)",
           response=DashboardOut)
async def dashboard(request: web.Request) -> web.Response:
    session = require_session(request)
    b = await D.dashboard(request.app[DEPS], session.user_id, _ent(request))
    return reply(DashboardOut(
        enterprise_name=b.enterprise_name, state=b.state, pending_reviews=b.pending_reviews,
        pending_joins=b.pending_joins, collecting=b.collecting,
        active_employees=b.active_employees, members=b.members, seals_enabled=b.seals_enabled,
        months=[MonthOut(month=m, sent=s, signed=g) for m, s, g in b.months],
        can_review=b.can_review, can_join_review=b.can_join_review,
        to_seal=[_todo_out(t) for t in b.to_seal], due_soon=[_todo_out(t) for t in b.due_soon],
        rejected=[_todo_out(t) for t in b.rejected]))


# ---------------------------------------------------------------- departments


@api.route("GET", "/enterprises/{enterprise_id}/departments",
           summary="The department tree (employees.view)", response=DepartmentsOut)
async def list_departments(request: web.Request) -> web.Response:
    session = require_session(request)
    tree = await DP.department_tree(request.app[DEPS], session.user_id, _ent(request))
    return reply(DepartmentsOut(departments=[_dept_out(d) for d in tree]))


@api.route("POST", "/enterprises/{enterprise_id}/departments",
           summary="Add a department, at the top or under parent_id (departments.manage)",
           body=DepartmentIn, response=DepartmentOut, status=201)
async def add_department(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, DepartmentIn)
    node = await DP.add_department(request.app[DEPS], session.user_id, _ent(request),
                                   body.name, body.parent_id or None, request_meta(request))
    return reply(_dept_out(node), status=201)


@api.route("PATCH", "/enterprises/{enterprise_id}/departments/{department_id}",
           summary="Rename a department (departments.manage)", body=RenameIn)
async def rename_department(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, RenameIn)
    await DP.rename_department(request.app[DEPS], session.user_id, _ent(request),
                               request.match_info["department_id"], body.name,
                               request_meta(request))
    return reply()


@api.route("POST", "/enterprises/{enterprise_id}/departments/{department_id}/move",
           summary="Move a department under another (never under itself) or to the top "
                   "(departments.manage)", body=MoveIn)
async def move_department(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, MoveIn)
    await DP.move_department(request.app[DEPS], session.user_id, _ent(request),
                             request.match_info["department_id"], body.parent_id or None,
                             request_meta(request))
    return reply()


@api.route("DELETE", "/enterprises/{enterprise_id}/departments/{department_id}",
           summary="Delete an empty department: no sub-departments, no current employees "
                   "(departments.manage)")
async def delete_department(request: web.Request) -> web.Response:
    session = require_session(request)
    await DP.delete_department(request.app[DEPS], session.user_id, _ent(request),
                               request.match_info["department_id"], request_meta(request))
    return reply()


# ---------------------------------------------------------------- roles & business types


@api.route("GET", "/enterprises/{enterprise_id}/roles",
           summary="Roles with their permissions and member counts (members.view)",
           response=RolesOut)
async def list_roles(request: web.Request) -> web.Response:
    session = require_session(request)
    roles = await M.list_roles(request.app[DEPS], session.user_id, _ent(request))
    return reply(RolesOut(roles=[_role_out(r) for r in roles], permissions=dict(R.PERMISSIONS)))


@api.route("POST", "/enterprises/{enterprise_id}/roles",
           summary="Create a custom role (roles.manage; only permissions one holds)",
           body=RoleIn, response=RoleOut, status=201)
async def create_role(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, RoleIn)
    role = await M.save_role(request.app[DEPS], session.user_id, _ent(request), role_id=None,
                             name=body.name, permissions=body.permissions,
                             meta=request_meta(request))
    return reply(_role_out(role), status=201)


@api.route("PUT", "/enterprises/{enterprise_id}/roles/{role_id}",
           summary="Edit a custom role's name and permissions (roles.manage)", body=RoleIn,
           response=RoleOut)
async def update_role(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, RoleIn)
    role = await M.save_role(request.app[DEPS], session.user_id, _ent(request),
                             role_id=request.match_info["role_id"], name=body.name,
                             permissions=body.permissions, meta=request_meta(request))
    return reply(_role_out(role))


@api.route("DELETE", "/enterprises/{enterprise_id}/roles/{role_id}",
           summary="Delete a custom role no member holds (roles.manage)")
async def delete_role(request: web.Request) -> web.Response:
    session = require_session(request)
    await M.delete_role(request.app[DEPS], session.user_id, _ent(request),
                        request.match_info["role_id"], request_meta(request))
    return reply()


@api.route("GET", "/enterprises/{enterprise_id}/business-types",
           summary="Business types (any member)", response=BusinessTypesOut)
async def list_business_types(request: web.Request) -> web.Response:
    session = require_session(request)
    rows = await M.list_business_types(request.app[DEPS], session.user_id, _ent(request))
    return reply(BusinessTypesOut(
        business_types=[BusinessTypeOut(id=b.id, name=b.name) for b in rows]))


@api.route("POST", "/enterprises/{enterprise_id}/business-types",
           summary="Add a business type (roles.manage)", body=BusinessTypeIn,
           response=BusinessTypeOut, status=201)
async def add_business_type(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, BusinessTypeIn)
    b = await M.add_business_type(request.app[DEPS], session.user_id, _ent(request), body.name,
                                  request_meta(request))
    return reply(BusinessTypeOut(id=b.id, name=b.name), status=201)


# ---------------------------------------------------------------- members


@api.route("PATCH", "/enterprises/{enterprise_id}/members/{member_id}",
           summary="Change a member's roles, business types and name (members.manage)",
           body=MemberUpdateIn, response=MemberOut)
async def update_member(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, MemberUpdateIn)
    view = await M.update_member(request.app[DEPS], session.user_id, _ent(request),
                                 request.match_info["member_id"], role_ids=body.role_ids,
                                 business_type_ids=body.business_type_ids,
                                 display_name=body.display_name, meta=request_meta(request))
    return reply(_member_out(view))


@api.route("GET", "/enterprises/{enterprise_id}/members/{member_id}/handover-items",
           summary="What a member holds that must be handed over before removal "
                   "(members.manage)", response=HandoverItemsOut)
async def handover_items(request: web.Request) -> web.Response:
    session = require_session(request)
    items = await M.handover_items(request.app[DEPS], session.user_id, _ent(request),
                                   request.match_info["member_id"])
    return reply(HandoverItemsOut(items=[HandoverItemOut(key=i.key, kind=i.kind, label=i.label)
                                         for i in items]))


@api.route("POST", "/enterprises/{enterprise_id}/members/{member_id}/remove",
           summary="Remove a member once every hand-over item is assigned (members.manage)",
           body=RemoveMemberIn, response=MemberOut)
async def remove_member(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, RemoveMemberIn)
    deps, ent, mid = request.app[DEPS], _ent(request), request.match_info["member_id"]
    assignments = {k: v for k, v in body.assignments.items() if v}
    if body.all_to:  # the same member takes every item not chosen separately
        for item in await M.handover_items(deps, session.user_id, ent, mid):
            assignments.setdefault(item.key, body.all_to)
    view = await M.remove_member(deps, session.user_id, ent, mid, assignments=assignments,
                                 meta=request_meta(request))
    return reply(_member_out(view))


# ---------------------------------------------------------------- audit log


@api.route("GET", "/enterprises/{enterprise_id}/audit",
           summary="The audit log, newest first (audit.view; ?member_id=&seal_id=&from=&to="
                   "YYYY-MM-DD&limit=≤500&before_seq=)", response=AuditOut)
async def audit_log(request: web.Request) -> web.Response:
    session = require_session(request)
    q = request.query
    limit = bounded_int(q.get("limit"), "limit", default=100, minimum=1, maximum=500)
    before = bounded_int(q.get("before_seq"), "before_seq", default=0)
    rows = await D.audit_log(request.app[DEPS], session.user_id, _ent(request),
                             member_id=(q.get("member_id") or "")[:64] or None,
                             seal_id=(q.get("seal_id") or "")[:64] or None,
                             date_from=_day(q.get("from"), "from"),
                             date_to=_day(q.get("to"), "to"), limit=limit,
                             before_seq=before or None)
    return reply(AuditOut(
        entries=[AuditEntryOut(seq=r.seq, at=r.at, action=r.action, actor_id=r.actor_id,
                               actor_name=r.actor_name, subject_type=r.subject_type,
                               subject_id=r.subject_id, data=r.data) for r in rows],
        next_before_seq=rows[-1].seq if len(rows) == limit else None))


class AuditExportQuery(BaseModel):
    format: str = Field("xlsx", description="xlsx | csv")
    member_id: str | None = None
    seal_id: str | None = None
    from_: str | None = Field(None, alias="from", description="YYYY-MM-DD")
    to: str | None = Field(None, description="YYYY-MM-DD")


@api.route("GET", "/enterprises/{enterprise_id}/audit/export",
           summary="The filtered audit log as .xlsx or .csv (audit.view; at most "
                   f"{D.AUDIT_EXPORT_LIMIT} entries; phones masked; formula-like cells as "
                   "text)", response_content_type="application/octet-stream",
           query=AuditExportQuery)
async def audit_export(request: web.Request) -> web.Response:
    session = require_session(request)
    q = request.query
    export = await D.export_audit_log(
        request.app[DEPS], session.user_id, _ent(request), fmt=(q.get("format") or "xlsx")[:8],
        member_id=(q.get("member_id") or "")[:64] or None,
        seal_id=(q.get("seal_id") or "")[:64] or None, date_from=_day(q.get("from"), "from"),
        date_to=_day(q.get("to"), "to"), label=audit_label)
    return web.Response(body=export.data, headers={
        "Content-Type": export.content_type,
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(export.filename)}",
        "Cache-Control": "private, no-store", "X-Row-Count": str(export.rows)})


# ---------------------------------------------------------------- settings


class EnterpriseInfoIn(BaseModel):
    """Only the fields given change. A new name or credit code voids every seal and sends
    the enterprise back to certification; a new legal representative voids 法人章."""

    name: str | None = None
    credit_code: str | None = None
    address: str | None = None
    legal_rep_name: str | None = None
    legal_rep_id_number: str | None = Field(None, description="with legal_rep_name")


class FieldsOut(BaseModel):
    fields: list[str] = Field(description="the onboarding catalogue keys collected")
    catalogue: dict[str, str] = Field(description="every key → label")


class FieldsIn(BaseModel):
    fields: list[str] = Field(max_length=50)


@api.route("PATCH", "/enterprises/{enterprise_id}",
           summary="Change the enterprise's information (main admin only)",
           body=EnterpriseInfoIn, response=EnterpriseOut)
async def change_enterprise_info(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, EnterpriseInfoIn)
    rep = body.legal_rep_name or None
    view = await C.change_enterprise_info(
        request.app[DEPS], session.user_id, _ent(request), name=body.name or None,
        credit_code=body.credit_code or None, address=body.address or None,
        legal_rep_name=rep, legal_rep_id_number=(body.legal_rep_id_number or None) if rep
        else None, meta=request_meta(request))
    return reply(_ent_out(view))


@api.route("GET", "/enterprises/{enterprise_id}/onboarding-fields",
           summary="The fields collected when onboarding (employees.view)", response=FieldsOut)
async def onboarding_fields(request: web.Request) -> web.Response:
    session = require_session(request)
    keys = await E.onboarding_fields(request.app[DEPS], session.user_id, _ent(request))
    return reply(FieldsOut(fields=keys, catalogue=dict(E.FIELDS)))


@api.route("PUT", "/enterprises/{enterprise_id}/onboarding-fields",
           summary="Choose the fields collected when onboarding; name and phone always "
                   "(employees.manage)", body=FieldsIn, response=FieldsOut)
async def set_onboarding_fields(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, FieldsIn)
    keys = await E.set_onboarding_fields(request.app[DEPS], session.user_id, _ent(request),
                                         body.fields, request_meta(request))
    return reply(FieldsOut(fields=keys, catalogue=dict(E.FIELDS)))


# ---------------------------------------------------------------- main admin change


class TransferCodeOut(BaseModel):
    phone_masked: str = Field(description="where the code was sent: the main admin's phone")


class TransferAdminIn(BaseModel):
    code: str
    new_member_id: str
    handover_keys: list[str] = Field(
        [], max_length=1000,
        description="the outgoing admin's hand-over items the new admin takes over")


class AdminChangeOut(BaseModel):
    id: str
    enterprise_id: str
    kind: str
    state: str
    state_label: str
    from_user_id: str | None
    to_user_id: str
    created_at: datetime
    completed_at: datetime | None


@api.route("POST", "/enterprises/{enterprise_id}/admin-transfer/code",
           summary="Send the main admin a code to confirm handing the role over "
                   "(main admin only)", response=TransferCodeOut)
async def admin_transfer_code(request: web.Request) -> web.Response:
    session = require_session(request)
    masked = await A.send_transfer_code(request.app[DEPS], session.user_id, _ent(request),
                                        request_meta(request))
    return reply(TransferCodeOut(phone_masked=masked))


@api.route("POST", "/enterprises/{enterprise_id}/admin-transfer",
           summary="Hand the main admin role to an active member, with the code "
                   "(main admin only)", body=TransferAdminIn, response=AdminChangeOut)
async def admin_transfer(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, TransferAdminIn)
    v = await A.transfer_admin(request.app[DEPS], session.user_id, _ent(request),
                               code=body.code, new_member_id=body.new_member_id,
                               handover_keys=body.handover_keys, meta=request_meta(request))
    return reply(AdminChangeOut(id=v.id, enterprise_id=v.enterprise_id, kind=v.kind,
                                state=v.state, state_label=v.state_label,
                                from_user_id=v.from_user_id, to_user_id=v.to_user_id,
                                created_at=v.created_at, completed_at=v.completed_at))


# ---------------------------------------------------------------- my join requests


@api.route("GET", "/me/join-requests", summary="My requests to join enterprises",
           response=JoinListOut)
async def my_join_requests(request: web.Request) -> web.Response:
    session = require_session(request)
    rows = await M.my_join_requests(request.app[DEPS], session.user_id)
    return reply(JoinListOut(requests=[_join_out(j) for j in rows]))


@api.route("POST", "/me/join-requests/{request_id}/revoke",
           summary="Withdraw my pending join request", response=JoinOut)
async def revoke_join_request(request: web.Request) -> web.Response:
    session = require_session(request)
    view = await M.revoke_join(request.app[DEPS], session.user_id,
                               request.match_info["request_id"], request_meta(request))
    return reply(_join_out(view))
