"""The enterprise's contract ledger (合同台账): search, filters, sorting, pages, export, and
the sending side's actions on its rows: urge (催办) one, urge or revoke (撤销) the ticked."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from core.contracts import ending, urging
from core.contracts import ledger as L
from core.errors import DomainError, InvalidInput
from handlers.console.enterprise import enterprise_page_context
from handlers.console.forms import deps_of, ent_of, form_of, refused, text_of, uid_of
from handlers.render import render
from handlers.util import request_meta

routes = web.RouteTableDef()

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(export: L.Export) -> web.Response:
    return web.Response(
        body=export.data, content_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(export.filename)}",
                 "Cache-Control": "private, no-store", "X-Row-Count": str(export.rows)})


async def _ledger_page(request: web.Request, error: DomainError | None = None,
                       results: dict[str, Any] | None = None) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "contracts")
    try:
        query = L.parse_query(request.query)
    except DomainError as exc:
        error, query = error or exc, L.LedgerQuery()
    page = await L.ledger(deps, uid, ent, query)
    base = f"/console/e/{ent}/contracts"

    def link(**changes: object) -> str:
        params = query.params(**changes)
        return base + ("?" + urlencode(params) if params else "")

    params = query.params(page=1)
    advanced = any(k in params for k in ("type", "dept", "template", "sent_from", "sent_to",
                                         "deadline_after", "deadline_before", "sort",
                                         "order", "per_page"))
    if results is not None:
        titles = {c.id: c.title for c in page.items}
        for row in results["rows"]:
            row["title"] = titles.get(row["id"]) or f"合同 {row['id'][:8]}"
    return render(request, "console/contracts.html", {
        **ctx, "page": page, "q": query, "error": error, "link": link,
        "states": L.STATES, "sorts": L.SORTS, "per_pages": L.PER_PAGE,
        "choices": await L.choices(deps, uid, ent), "advanced": advanced,
        "export_url": f"{base}/export.xlsx" + ("?" + urlencode(params) if params else ""),
        # The selection form posts back to this very view (filters and page kept).
        "action_url": link(), "results": results,
    }, status=error.status if error else 200)


@routes.get("/console/e/{ent}/contracts")
async def ledger_page(request: web.Request) -> web.Response:
    return await _ledger_page(request)


@routes.post("/console/e/{ent}/contracts")
async def ledger_actions(request: web.Request) -> web.Response:
    """The list's selection: urge (催办) or revoke (撤销, with a reason) the ticked ones, or
    urge one row (its own 催办 button)."""
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    form = await form_of(request)
    action, one = text_of(form, "action"), text_of(form, "one")
    if one:
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
        return await refused(request, _ledger_page, err)
    ok = sum(1 for r in done if r.ok)
    rows = [{"id": r.contract_id, "ok": r.ok, "message": r.message} for r in done]
    summary = f"已{verb} {ok} 份合同" + (f"，{len(done) - ok} 份未{verb}" if ok < len(done) else "")
    return await _ledger_page(request, results={
        "summary": summary, "rows": [r for r in rows if not r["ok"]]})


@routes.get("/console/e/{ent}/contracts/export.xlsx")
async def ledger_export(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    return xlsx_response(await L.export(deps, uid, ent, L.parse_query(request.query)))
