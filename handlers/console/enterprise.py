"""One enterprise's console: the shared page context, the dashboard, the contract list."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.contracts import access as contract_access
from core.contracts import ending, urging
from core.enterprise import dashboard as D
from core.enterprise import members as M
from core.errors import DomainError, InvalidInput
from handlers.console.forms import (
    deps_of,
    ent_of,
    form_of,
    notice_of,
    refused,
    text_of,
    uid_of,
)
from handlers.render import render
from handlers.util import request_meta

routes = web.RouteTableDef()


# ================================================================ enterprise console


async def console_context(request: web.Request, ent_id: str, section: str) -> dict[str, Any]:
    """What every page of one enterprise's console shows: name, nav, my permissions."""
    access = await M.my_access(deps_of(request), uid_of(request), ent_id)
    return {"ent_id": ent_id, "ent_name": access.enterprise_name,
            "ent_state": access.enterprise_state, "section": section,
            "notice": notice_of(request), "access": access}


async def enterprise_page_context(request: web.Request, section: str) -> dict[str, Any]:
    return await console_context(request, ent_of(request), section)


@routes.get("/console/e/{ent}")
async def dashboard(request: web.Request, error: DomainError | None = None) -> web.Response:
    ctx = await enterprise_page_context(request, "home")
    board = await D.dashboard(deps_of(request), uid_of(request), ent_of(request))
    return render(request, "console/dashboard.html", {**ctx, "board": board, "error": error})


# ---------------------------------------------------------------- contracts


async def _contracts_page(request: web.Request, error: DomainError | None = None,
                          results: dict[str, Any] | None = None) -> web.Response:
    uid = uid_of(request)
    ctx = await enterprise_page_context(request, "contracts")
    tab = request.query.get("tab", "all")
    tab = tab if tab in contract_access.ENTERPRISE_TABS else "all"
    items = await contract_access.enterprise_contracts(deps_of(request), uid, ent_of(request), tab)
    if results is not None:
        titles = {c.id: c.title for c in items}
        for row in results["rows"]:
            row["title"] = titles.get(row["id"]) or f"合同 {row['id'][:8]}"
    return render(request, "console/contracts.html", {
        **ctx, "items": items, "tab": tab, "tabs": contract_access.ENTERPRISE_TABS,
        "error": error, "results": results,
        "can_manage": any(c.can_urge or c.urge_label or c.can_revoke for c in items)})


@routes.get("/console/e/{ent}/contracts")
async def contracts_page(request: web.Request) -> web.Response:
    return await _contracts_page(request)


@routes.post("/console/e/{ent}/contracts")
async def contracts_bulk(request: web.Request) -> web.Response:
    """The list's selection: urge (催办) or revoke (撤销, with a reason) the ticked ones."""
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    form = await form_of(request)
    action, one = text_of(form, "action"), text_of(form, "one")
    if one:  # a row's own 催办 button
        action, ids = "urge", [one]
    else:
        ids = [v for v in form.getall("ids", []) if isinstance(v, str)]
    try:
        if action == "urge":
            done: list[ending.BulkOutcome] = list(await urging.urge_many(
                deps, uid, ids, request_meta(request), enterprise_id=ent))
            verb = "催办"
        elif action == "revoke":
            done = await ending.revoke_many(deps, uid, ids, text_of(form, "reason"),
                                            request_meta(request), enterprise_id=ent)
            verb = "撤销"
        else:
            raise InvalidInput("请选择操作", code="invalid_action")
    except DomainError as err:
        return await refused(request, _contracts_page, err)
    ok = sum(1 for r in done if r.ok)
    rows = [{"id": r.contract_id, "ok": r.ok, "message": r.message} for r in done]
    return await _contracts_page(request, results={
        "summary": f"已{verb} {ok} 份合同" + (f"，{len(done) - ok} 份未{verb}" if ok < len(done)
                                             else ""),
        "rows": [r for r in rows if not r["ok"]]})


# ---------------------------------------------------------------- members & joins & roles
