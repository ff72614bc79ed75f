"""Seals: the list, creation, one seal's page, image and actions."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.enterprise import members as M
from core.enterprise import seals as S
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
from handlers.console.labels import AUDIT_ACTIONS, AUDIT_DETAILS, DETAIL_VALUES, USAGE_ACTIONS
from handlers.render import render
from handlers.util import request_meta

routes = web.RouteTableDef()


async def _seals_page(request: web.Request, error: DomainError | None = None,
                      form: dict[str, str] | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "seals")
    return render(request, "console/seals.html", {
        **ctx, "seals": await S.list_seals(deps, uid, ent), "kinds": S.KINDS, "error": error,
        "form": form or {},
    })


@routes.get("/console/e/{ent}/seals")
async def seals_page(request: web.Request) -> web.Response:
    return await _seals_page(request)


@routes.post("/console/e/{ent}/seals")
async def seal_create(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    try:
        seal = await S.create_seal(deps_of(request), uid, ent_of(request),
                                   name=text_of(form, "name"), kind=text_of(form, "kind"),
                                   image=file_of(form, "image"), meta=request_meta(request))
    except DomainError as err:
        return await refused(request, _seals_page, err,
                              form={k: text_of(form, k)[:40] for k in ("name", "kind")})
    raise go_to(f"/console/e/{ent_of(request)}/seals/{seal.id}", "added")


async def _seal_page(request: web.Request, error: DomainError | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    sid = request.match_info["sid"]
    ctx = await enterprise_page_context(request, "seals")
    seal = await S.get_seal(deps, uid, ent, sid)
    members = await M.list_members(deps, uid, ent)
    return render(request, "console/seal.html", {
        **ctx, "s": seal, "members": members,
        "names": {m.id: m.display_name for m in members},
        "usage": [_usage_entry(u, {m.id: m.display_name for m in members},
                               {m.user_id: m.display_name for m in members if m.user_id})
                  for u in await S.usage_log(deps, uid, ent, sid)],
        "error": error,
    })


def _usage_entry(u: S.UsageView, members: dict[str, str], users: dict[str, str]
                 ) -> dict[str, Any]:
    """One row of a seal's usage log in words: who, what, on which contract or member."""
    data = {**u.data}
    if isinstance(data.get("member_id"), str):
        data["member"] = members.get(data["member_id"], "")
    label = USAGE_ACTIONS.get(u.action) or AUDIT_ACTIONS.get(u.action, "其他操作")
    details = [f"{AUDIT_DETAILS[k]}：{DETAIL_VALUES.get(str(v), v)}" for k, v in data.items()
               if k in AUDIT_DETAILS and isinstance(v, str | int) and v != ""]
    actor = users.get(u.actor_id or "") or ("其他用户" if u.actor_id else "系统")
    return {"at": u.at, "label": label, "actor": actor, "details": "；".join(details),
            "contract_id": u.contract_id}


@routes.get("/console/e/{ent}/seals/{sid}")
async def seal_page(request: web.Request) -> web.Response:
    return await _seal_page(request)


@routes.get("/console/e/{ent}/seals/{sid}/image")
async def seal_image(request: web.Request) -> web.Response:
    uid = uid_of(request)
    data, ctype = await S.seal_image(deps_of(request), uid, ent_of(request),
                                     request.match_info["sid"])
    return web.Response(body=data, content_type=ctype, headers={"Cache-Control": "private"})


@routes.post("/console/e/{ent}/seals/{sid}")
async def seal_action(request: web.Request) -> web.Response:
    uid = uid_of(request)
    form = await form_of(request)
    deps, ent, sid, meta = deps_of(request), ent_of(request), request.match_info["sid"], \
        request_meta(request)
    action = text_of(form, "action")
    try:
        if action in ("enable", "disable"):
            await S.set_seal_status(deps, uid, ent, sid, action == "enable", meta)
        elif action in ("auto_on", "auto_off"):
            await S.set_auto_sign(deps, uid, ent, sid, action == "auto_on", meta)
        elif action == "grant":
            await S.grant_seal(deps, uid, ent, sid, text_of(form, "member_id"), meta)
        elif action == "revoke":
            await S.revoke_seal_grant(deps, uid, ent, sid, text_of(form, "member_id"), meta)
        elif action == "image":
            image = file_of(form, "image")
            if image is None:
                raise InvalidInput("请选择印章图片", code="empty_upload", field="image")
            await S.replace_seal_image(deps, uid, ent, sid, image, meta)
        else:
            raise InvalidInput("未知操作", code="invalid_action")
    except DomainError as err:
        return await refused(request, _seal_page, err)
    raise go_to(f"/console/e/{ent}/seals/{sid}", "saved")


# ---------------------------------------------------------------- admin change
