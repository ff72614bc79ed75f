"""Members, join requests, roles and the main-admin change."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.enterprise import admin_change as A
from core.enterprise import members as M
from core.enterprise import roles as R
from core.enterprise import seals as S
from core.errors import DomainError
from handlers.console.enterprise import enterprise_page_context
from handlers.console.forms import (
    deps_of,
    ent_of,
    form_of,
    go_to,
    refused,
    text_of,
    uid_of,
)
from handlers.render import render
from handlers.util import request_meta

routes = web.RouteTableDef()


async def _members_page(request: web.Request, error: DomainError | None = None,
                        form: dict[str, Any] | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "members")
    return render(request, "console/members.html", {
        **ctx, "members": await M.list_members(deps, uid, ent),
        "roles": await M.list_roles(deps, uid, ent),
        "btypes": await M.list_business_types(deps, uid, ent), "error": error,
        "form": form or {},
    })


@routes.get("/console/e/{ent}/members")
async def members_page(request: web.Request) -> web.Response:
    return await _members_page(request)


@routes.post("/console/e/{ent}/members")
async def member_add(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    try:
        await M.add_member(deps_of(request), uid, ent_of(request), phone=text_of(form, "phone"),
                           name=text_of(form, "name"), role_ids=form.getall("role_ids", []),
                           business_type_ids=form.getall("business_type_ids", []),
                           meta=request_meta(request))
    except DomainError as err:
        kept = {"phone": text_of(form, "phone")[:20], "name": text_of(form, "name")[:40],
                "role_ids": form.getall("role_ids", []),
                "business_type_ids": form.getall("business_type_ids", [])}
        return await refused(request, _members_page, err, form=kept)
    raise go_to(f"/console/e/{ent_of(request)}/members", "added")


async def _member_page(request: web.Request, error: DomainError | None = None
                       ) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    members = await M.list_members(deps, uid, ent)
    member = next((m for m in members if m.id == request.match_info["mid"]), None)
    if member is None:
        raise web.HTTPNotFound()
    ctx = await enterprise_page_context(request, "members")
    return render(request, "console/member.html", {
        **ctx, "m": member, "others": [o for o in members if o.id != member.id
                                       and o.status == "active"],
        "roles": await M.list_roles(deps, uid, ent),
        "btypes": await M.list_business_types(deps, uid, ent),
        "items": await M.handover_items(deps, uid, ent, member.id), "error": error,
    })


@routes.get("/console/e/{ent}/members/{mid}")
async def member_page(request: web.Request) -> web.Response:
    return await _member_page(request)


@routes.post("/console/e/{ent}/members/{mid}")
async def member_update(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    try:
        await M.update_member(deps_of(request), uid, ent_of(request), request.match_info["mid"],
                              role_ids=form.getall("role_ids", []),
                              business_type_ids=form.getall("business_type_ids", []),
                              display_name=text_of(form, "name"), meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _member_page, err)
    raise go_to(f"/console/e/{ent_of(request)}/members/{request.match_info['mid']}", "saved")


@routes.post("/console/e/{ent}/members/{mid}/remove")
async def member_remove(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    everything = text_of(form, "all_to")
    assignments = {k[3:]: v for k, v in form.items()
                   if k.startswith("to:") and isinstance(v, str) and v}
    if everything:  # 一键转交: the same member takes every item not chosen separately
        for key in form.getall("item", []):
            assignments.setdefault(key, everything)
    try:
        await M.remove_member(deps_of(request), uid, ent_of(request), request.match_info["mid"],
                              assignments=assignments, meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _member_page, err)
    raise go_to(f"/console/e/{ent_of(request)}/members", "removed")


async def _joins_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "joins")
    return render(request, "console/joins.html", {
        **ctx, "requests": await M.list_join_requests(deps, uid, ent),
        "roles": [r for r in await M.list_roles(deps, uid, ent) if r.builtin != "main_admin"],
        "btypes": await M.list_business_types(deps, uid, ent),
        "seals": [s for s in await S.list_seals(deps, uid, ent) if s.status != "voided"],
        "error": error,
    })


@routes.get("/console/e/{ent}/joins")
async def joins_page(request: web.Request) -> web.Response:
    return await _joins_page(request)


@routes.post("/console/e/{ent}/joins/{id}")
async def join_decide(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    approve = text_of(form, "decision") == "approve"
    try:
        await M.decide_join(deps_of(request), uid, ent_of(request), request.match_info["id"],
                            approve=approve, role_ids=form.getall("role_ids", []),
                            business_type_ids=form.getall("business_type_ids", []),
                            seal_ids=form.getall("seal_ids", []),
                            reason=text_of(form, "reason"), meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _joins_page, err)
    raise go_to(f"/console/e/{ent_of(request)}/joins", "approved" if approve else "rejected")


async def _roles_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "members")
    return render(request, "console/roles.html", {
        **ctx, "roles": await M.list_roles(deps, uid, ent), "permissions": R.PERMISSIONS,
        "btypes": await M.list_business_types(deps, uid, ent), "error": error,
    })


@routes.get("/console/e/{ent}/roles")
async def roles_page(request: web.Request) -> web.Response:
    return await _roles_page(request)


@routes.post("/console/e/{ent}/roles")
async def role_save(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    try:
        if text_of(form, "action") == "delete":
            await M.delete_role(deps_of(request), uid, ent_of(request), text_of(form, "role_id"),
                                request_meta(request))
        elif text_of(form, "action") == "business_type":
            await M.add_business_type(deps_of(request), uid, ent_of(request), text_of(form, "name"),
                                      request_meta(request))
        else:
            await M.save_role(deps_of(request), uid, ent_of(request),
                              role_id=text_of(form, "role_id") or None, name=text_of(form, "name"),
                              permissions=form.getall("permissions", []),
                              meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _roles_page, err)
    raise go_to(f"/console/e/{ent_of(request)}/roles", "saved")


# ---------------------------------------------------------------- seals



async def _admin_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "admin")
    if not ctx["access"].is_main_admin:  # the page explains the appeal instead
        return render(request, "console/admin.html", {
            **ctx, "candidates": [], "items": [], "is_main": False, "error": error})
    members = await M.list_members(deps, uid, ent)
    me = next((m for m in members if m.user_id == uid), None)
    items = await M.handover_items(deps, uid, ent, me.id) if me else []
    return render(request, "console/admin.html", {
        **ctx, "candidates": [m for m in members if m.status == "active" and m.user_id != uid],
        "items": items, "is_main": bool(me and me.is_main_admin), "error": error,
    })


@routes.get("/console/e/{ent}/admin")
async def admin_page(request: web.Request) -> web.Response:
    return await _admin_page(request)


@routes.post("/console/e/{ent}/admin")
async def admin_action(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    deps, ent, meta = deps_of(request), ent_of(request), request_meta(request)
    try:
        if text_of(form, "action") == "code":
            await A.send_transfer_code(deps, uid, ent, meta)
            raise go_to(f"/console/e/{ent}/admin", "code_sent")
        await A.transfer_admin(deps, uid, ent, code=text_of(form, "code"),
                               new_member_id=text_of(form, "new_member_id"),
                               handover_keys=form.getall("item", []), meta=meta)
    except DomainError as err:
        return await refused(request, _admin_page, err)
    raise go_to(f"/console/e/{ent}", "transferred")


# ---------------------------------------------------------------- employees

# The fields of the 办理入职 form (console/employees.html).
