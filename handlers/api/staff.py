"""Employee JSON API beyond onboarding: one employee, edit, department transfer,
resignation, re-sending the collection link, bulk approval and the import template. Each
route calls the verb the console's employee pages call."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from core.enterprise import employee_import as I
from core.enterprise import employees as E
from handlers.api.enterprise import EmployeeOut, _employee_out
from handlers.api.registry import ApiRoutes, parse, reply
from handlers.keys import DEPS
from handlers.util import request_meta, require_session

api = ApiRoutes("employees")

MAX_BULK = 1000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class EditIn(BaseModel):
    """Every field of the enterprise's onboarding catalogue; name and phone always."""

    name: str
    phone: str
    id_number: str | None = None
    department: str | None = Field(None, description="department id, name or path")
    position: str | None = None
    start_date: str | None = Field(None, description="YYYY-MM-DD")
    bank_card: str | None = None
    emergency_contact: str | None = None
    emergency_phone: str | None = None
    address: str | None = None
    email: str | None = None
    education: str | None = None


class TransferIn(BaseModel):
    department_id: str


class ResignIn(BaseModel):
    resign_date: str = Field(description="YYYY-MM-DD, not before the start date")


class BulkApproveIn(BaseModel):
    ids: list[str] = Field(min_length=1, max_length=MAX_BULK)


class BulkApproveOut(BaseModel):
    approved: int = Field(description="how many were pending review and are now active")


def _ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["enterprise_id"], request.match_info["employee_id"]


@api.route("POST", "/enterprises/{enterprise_id}/employees/approve",
           summary="Approve several employees pending review at once (employees.review)",
           body=BulkApproveIn, response=BulkApproveOut)
async def approve_many(request: web.Request) -> web.Response:
    session = require_session(request)
    body = await parse(request, BulkApproveIn)
    count = await E.approve_employees(request.app[DEPS], session.user_id,
                                      request.match_info["enterprise_id"], body.ids,
                                      request_meta(request))
    return reply(BulkApproveOut(approved=count))


@api.route("GET", "/enterprises/{enterprise_id}/employees/import-template",
           summary="The Excel template for importing, with this enterprise's fields "
                   "(employees.view)", response_content_type=XLSX)
async def import_template(request: web.Request) -> web.Response:
    session = require_session(request)
    fields = await E.onboarding_fields(request.app[DEPS], session.user_id,
                                       request.match_info["enterprise_id"])
    return web.Response(body=I.template_bytes(fields), headers={
        "Content-Type": XLSX,
        "Content-Disposition": 'attachment; filename="employees-template.xlsx"'})


@api.route("GET", "/enterprises/{enterprise_id}/employees/{employee_id}",
           summary="One employee (employees.view)", response=EmployeeOut)
async def get_employee(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, eid = _ids(request)
    return reply(_employee_out(await E.get_employee(request.app[DEPS], session.user_id, ent,
                                                    eid)))


@api.route("PUT", "/enterprises/{enterprise_id}/employees/{employee_id}",
           summary="Edit an employee's information (employees.manage; not once resigned)",
           body=EditIn, response=EmployeeOut)
async def edit_employee(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, eid = _ids(request)
    body = await parse(request, EditIn)
    raw = {k: v for k, v in body.model_dump().items() if v}
    view = await E.edit_employee(request.app[DEPS], session.user_id, ent, eid, raw,
                                 request_meta(request))
    return reply(_employee_out(view))


@api.route("POST", "/enterprises/{enterprise_id}/employees/{employee_id}/transfer",
           summary="Move an active employee to another department (employees.manage)",
           body=TransferIn, response=EmployeeOut)
async def transfer(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, eid = _ids(request)
    body = await parse(request, TransferIn)
    view = await E.transfer_department(request.app[DEPS], session.user_id, ent, eid,
                                       body.department_id, request_meta(request))
    return reply(_employee_out(view))


@api.route("POST", "/enterprises/{enterprise_id}/employees/{employee_id}/resign",
           summary="Record an employee's resignation (employees.manage)", body=ResignIn,
           response=EmployeeOut)
async def resign(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, eid = _ids(request)
    body = await parse(request, ResignIn)
    view = await E.resign_employee(request.app[DEPS], session.user_id, ent, eid,
                                   body.resign_date, request_meta(request))
    return reply(_employee_out(view))


@api.route("POST", "/enterprises/{enterprise_id}/employees/{employee_id}/collection-link",
           summary="Send (again) the SMS link where the employee fills in their information "
                   "(employees.manage)", response=EmployeeOut)
async def collection_link(request: web.Request) -> web.Response:
    session = require_session(request)
    ent, eid = _ids(request)
    view = await E.send_collection_link(request.app[DEPS], session.user_id, ent, eid,
                                        request_meta(request))
    return reply(_employee_out(view))
