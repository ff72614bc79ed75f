"""GET /favicon.ico: browsers ask for it on every page; an SVG answers all current ones."""

from __future__ import annotations

from aiohttp import web

from handlers.render import H5_DIR

routes = web.RouteTableDef()
ICON = H5_DIR / "static" / "favicon.svg"


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        ICON, headers={"Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400"}
    )
