"""Employees: the roster, adding, review, Excel import, departments, and the public
information-collection link."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from core.enterprise import departments as DP
from core.enterprise import employee_import as I
from core.enterprise import employees as E
from core.errors import DomainError, InvalidInput
from handlers.console.enterprise import enterprise_page_context
from handlers.console.forms import (
    deps_of,
    ent_of,
    file_of,
    form_of,
    go_to,
    refused,
    text_of,
    uid_of,
)
from handlers.render import render
from handlers.util import bounded_int, request_meta

routes = web.RouteTableDef()


ADD_FORM = ("name", "phone", "department", "position", "start_date")
TABS = {"active": "在职", "pending_review": "待审核", "collecting": "采集中",
        "rejected": "已驳回", "resigned": "已离职"}


async def _employees_page(request: web.Request, error: DomainError | None = None,
                          form: dict[str, str] | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    tab = request.query.get("tab", "active")
    tab = tab if tab in TABS else "active"
    try:
        offset = bounded_int(request.query.get("offset"), "offset", default=0)
    except InvalidInput:
        offset = 0  # a page link edited by hand: show the first page
    ctx = await enterprise_page_context(request, "employees")
    page = await E.list_employees(deps, uid, ent, statuses=[tab],
                                  q=request.query.get("q", "")[:40],
                                  department_id=request.query.get("dept") or None,
                                  offset=offset)
    return render(request, "console/employees.html", {
        **ctx, "page": page, "tab": tab, "tabs": TABS, "q": request.query.get("q", "")[:40],
        "depts": await DP.department_tree(deps, uid, ent),
        "fields": await E.onboarding_fields(deps, uid, ent), "labels": E.FIELDS,
        "error": error, "form": form or {"send_link": "1"},
        "new_id": request.query.get("new", "")[:32],
    })


@routes.get("/console/e/{ent}/employees")
async def employees_page(request: web.Request) -> web.Response:
    return await _employees_page(request)


def _values(form: MultiDictProxy[Any]) -> dict[str, object]:
    return {k: text_of(form, k) for k in E.FIELDS if text_of(form, k)}


@routes.post("/console/e/{ent}/employees")
async def employee_add(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    try:
        if text_of(form, "action") == "approve_selected":
            await E.approve_employees(deps_of(request), uid, ent_of(request),
                                      form.getall("ids", []), request_meta(request))
            raise go_to(f"/console/e/{ent_of(request)}/employees", "approved")
        added = await E.onboard_employee(deps_of(request), uid, ent_of(request), _values(form),
                                         request_meta(request),
                                         send_link=text_of(form, "send_link") == "1")
    except DomainError as err:
        # Everything typed stays in the form (the add form never holds ID or card numbers).
        kept = {k: text_of(form, k)[:100] for k in (*ADD_FORM, "send_link")}
        return await refused(request, _employees_page, err, form=kept)
    # Land on the tab the new person is on, with their row marked.
    raise web.HTTPSeeOther(f"/console/e/{ent_of(request)}/employees?tab={added.status}"
                           f"&new={added.id}&ok=added_{added.status}")


async def _employee_page(request: web.Request, error: DomainError | None = None
                         ) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "employees")
    return render(request, "console/employee.html", {
        **ctx, "e": await E.get_employee(deps, uid, ent, request.match_info["eid"]),
        "depts": await DP.department_tree(deps, uid, ent),
        "fields": await E.onboarding_fields(deps, uid, ent), "labels": E.FIELDS,
        "today": date.today().isoformat(), "error": error,
    })


@routes.get("/console/e/{ent}/employees/{eid:[0-9a-f]{32}}")
async def employee_page(request: web.Request) -> web.Response:
    return await _employee_page(request)


@routes.post("/console/e/{ent}/employees/{eid:[0-9a-f]{32}}")
async def employee_action(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    deps, ent, eid, meta = deps_of(request), ent_of(request), request.match_info["eid"], \
        request_meta(request)
    action = text_of(form, "action")
    try:
        if action == "approve":
            await E.review_employee(deps, uid, ent, eid, approve=True, meta=meta)
        elif action == "reject":
            await E.review_employee(deps, uid, ent, eid, approve=False,
                                    reason=text_of(form, "reason"), meta=meta)
        elif action == "transfer":
            await E.transfer_department(deps, uid, ent, eid, text_of(form, "department_id"), meta)
        elif action == "resign":
            await E.resign_employee(deps, uid, ent, eid, text_of(form, "resign_date"), meta)
        elif action == "link":
            await E.send_collection_link(deps, uid, ent, eid, meta)
        elif action == "edit":
            await E.edit_employee(deps, uid, ent, eid, _values(form), meta)
        else:
            raise InvalidInput("未知操作", code="invalid_action")
    except DomainError as err:
        return await refused(request, _employee_page, err)
    raise go_to(f"/console/e/{ent}/employees/{eid}", "saved")


async def _import_page(request: web.Request, error: DomainError | None = None,
                       report: I.ImportReport | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "employees")
    return render(request, "console/import.html", {
        **ctx, "report": report, "max_rows": I.MAX_ROWS, "error": error,
        "fields": await E.onboarding_fields(deps, uid, ent), "labels": E.FIELDS,
    })


@routes.get("/console/e/{ent}/employees/import")
async def import_page(request: web.Request) -> web.Response:
    return await _import_page(request)


@routes.get("/console/e/{ent}/employees/import/template.xlsx")
async def import_template(request: web.Request) -> web.Response:
    uid = uid_of(request)
    fields = await E.onboarding_fields(deps_of(request), uid, ent_of(request))
    return web.Response(body=I.template_bytes(fields), headers={
        "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "Content-Disposition": 'attachment; filename="employees-template.xlsx"'})


@routes.post("/console/e/{ent}/employees/import")
async def import_upload(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    try:
        data = file_of(form, "file")
        if data is None:
            raise InvalidInput("请选择 Excel 文件", code="empty_upload", field="file")
        report = await I.import_employees(deps_of(request), uid, ent_of(request), data,
                                          request_meta(request),
                                          activate=text_of(form, "activate") == "1")
    except DomainError as err:
        return await refused(request, _import_page, err)
    if not report.ok:
        response = await _import_page(request, report=report)
        response.set_status(422)
        return response
    tab = "active" if text_of(form, "activate") == "1" else "pending_review"
    raise web.HTTPSeeOther(f"/console/e/{ent_of(request)}/employees?tab={tab}&ok=imported")


# ---------------------------------------------------------------- departments


async def _departments_page(request: web.Request, error: DomainError | None = None,
                            form: dict[str, str] | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "departments")
    return render(request, "console/departments.html", {
        **ctx, "tree": await DP.department_tree(deps, uid, ent), "error": error,
        "form": form or {}})


@routes.get("/console/e/{ent}/departments")
async def departments_page(request: web.Request) -> web.Response:
    return await _departments_page(request)


@routes.post("/console/e/{ent}/departments")
async def department_action(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    deps, ent, meta = deps_of(request), ent_of(request), request_meta(request)
    action, dept = text_of(form, "action"), text_of(form, "dept_id")
    try:
        if action == "add":
            await DP.add_department(deps, uid, ent, text_of(form, "name"),
                                    text_of(form, "parent_id") or None, meta)
        elif action == "rename":
            await DP.rename_department(deps, uid, ent, dept, text_of(form, "name"), meta)
        elif action == "move":
            await DP.move_department(deps, uid, ent, dept, text_of(form, "parent_id") or None,
                                     meta)
        elif action == "delete":
            await DP.delete_department(deps, uid, ent, dept, meta)
        else:
            raise InvalidInput("未知操作", code="invalid_action")
    except DomainError as err:
        kept = ({k: text_of(form, k)[:40] for k in ("name", "parent_id")} if action == "add"
                else None)
        return await refused(request, _departments_page, err, form=kept)
    raise go_to(f"/console/e/{ent}/departments", "saved")


# ---------------------------------------------------------------- settings & audit



# ================================================================ collection link (public)


async def _collect_page(request: web.Request, error: DomainError | None = None,
                        values: dict[str, str] | None = None) -> web.Response:
    form = await E.collection_form(deps_of(request), request.match_info["token"])
    return render(request, "console/collect.html", {
        "f": form, "values": {**form.values, **(values or {})}, "error": error})


@routes.get("/collect/{token}")
async def collect_page(request: web.Request) -> web.Response:
    response = await _collect_page(request)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.post("/collect/{token}")
async def collect_submit(request: web.Request) -> web.Response:
    form = await form_of(request)
    values = {k: text_of(form, k)[:100] for k in E.FIELDS if k not in ("id_number", "bank_card")}
    try:
        ent_name = await E.submit_collection(deps_of(request), request.match_info["token"],
                                             _values(form), request_meta(request))
    except DomainError as err:
        if err.code == "collect_link_invalid":
            raise
        return await refused(request, _collect_page, err, values=values)
    return render(request, "console/collect_done.html", {"ent_name": ent_name})
