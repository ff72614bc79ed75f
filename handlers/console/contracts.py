"""The enterprise's contract ledger (合同台账): search, filters, sorting, pages, export."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from aiohttp import web

from core.contracts import ledger as L
from core.errors import DomainError
from handlers.console.enterprise import enterprise_page_context
from handlers.console.forms import deps_of, ent_of, uid_of
from handlers.render import render

routes = web.RouteTableDef()

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(export: L.Export) -> web.Response:
    return web.Response(
        body=export.data, content_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(export.filename)}",
                 "Cache-Control": "private, no-store", "X-Row-Count": str(export.rows)})


@routes.get("/console/e/{ent}/contracts")
async def ledger_page(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    ctx = await enterprise_page_context(request, "contracts")
    error: DomainError | None = None
    try:
        query = L.parse_query(request.query)
    except DomainError as exc:
        error, query = exc, L.LedgerQuery()
    page = await L.ledger(deps, uid, ent, query)
    base = f"/console/e/{ent}/contracts"

    def link(**changes: object) -> str:
        params = query.params(**changes)
        return base + ("?" + urlencode(params) if params else "")

    params = query.params(page=1)
    advanced = any(k in params for k in ("type", "dept", "sent_from", "sent_to",
                                         "deadline_after", "deadline_before", "sort",
                                         "order", "per_page"))
    return render(request, "console/contracts.html", {
        **ctx, "page": page, "q": query, "error": error, "link": link,
        "states": L.STATES, "sorts": L.SORTS, "per_pages": L.PER_PAGE,
        "choices": await L.choices(deps, uid, ent), "advanced": advanced,
        "export_url": f"{base}/export.xlsx" + ("?" + urlencode(params) if params else ""),
    }, status=error.status if error else 200)


@routes.get("/console/e/{ent}/contracts/export.xlsx")
async def ledger_export(request: web.Request) -> web.Response:
    uid, deps, ent = uid_of(request), deps_of(request), ent_of(request)
    return xlsx_response(await L.export(deps, uid, ent, L.parse_query(request.query)))
