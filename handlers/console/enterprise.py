"""One enterprise's console: the shared page context, the dashboard (the contract ledger
is handlers/console/contracts.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.enterprise import dashboard as D
from core.enterprise import members as M
from core.errors import DomainError
from handlers.console.forms import (
    deps_of,
    ent_of,
    notice_of,
    uid_of,
)
from handlers.render import render

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


# ---------------------------------------------------------------- members & joins & roles
