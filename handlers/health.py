"""GET /healthz"""

from __future__ import annotations

from aiohttp import web

from core.health import check_health
from handlers.keys import DEPS

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    health = await check_health(request.app[DEPS])
    return web.json_response(
        {
            "ok": health.ok,
            "database": health.database,
            "migrations_current": health.migrations_current,
            "revision": health.revision,
            "head": health.head,
        },
        status=200 if health.ok else 503,
    )
