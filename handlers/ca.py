"""The CA's public files: CRLs and certificates (named in every certificate we issue)."""

from __future__ import annotations

from aiohttp import web

from core.signing import service
from handlers.keys import DEPS

routes = web.RouteTableDef()

# Validators fetch these often; a few minutes of caching spares the CA key.
CACHE = "public, max-age=300"


@routes.get("/ca/crl")
async def issuing_crl(request: web.Request) -> web.Response:
    body = await service.crl_der(request.app[DEPS])
    return web.Response(body=body, content_type="application/pkix-crl",
                        headers={"Cache-Control": CACHE})


@routes.get("/ca/root.crl")
async def root_crl(request: web.Request) -> web.Response:
    body = await service.root_crl_der(request.app[DEPS])
    return web.Response(body=body, content_type="application/pkix-crl",
                        headers={"Cache-Control": CACHE})


@routes.get("/ca/root.crt")
async def root_certificate(request: web.Request) -> web.Response:
    body = service.root_certificate_der(request.app[DEPS])
    return web.Response(
        body=body,
        content_type="application/pkix-cert",
        headers={"Content-Disposition": 'attachment; filename="laborsign-root.crt"'},
    )


@routes.get("/ca/ca.crt")
async def issuing_certificate(request: web.Request) -> web.Response:
    body = service.issuing_certificate_der(request.app[DEPS])
    return web.Response(body=body, content_type="application/pkix-cert")
