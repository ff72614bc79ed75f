"""POST /tsa: the built-in RFC 3161 time-stamping authority (used when tsa_url is empty)."""

from __future__ import annotations

from aiohttp import web

from core.errors import PayloadTooLarge, UnsupportedMedia
from core.signing import service
from core.signing.tsa import MAX_REQUEST_BYTES
from handlers.keys import DEPS

routes = web.RouteTableDef()


@routes.post("/tsa")
async def timestamp(request: web.Request) -> web.Response:
    if request.content_type != "application/timestamp-query":
        raise UnsupportedMedia("Content-Type 须为 application/timestamp-query")
    if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
        raise PayloadTooLarge()
    body = await request.content.read(MAX_REQUEST_BYTES + 1)
    if len(body) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge()
    reply = await service.timestamp_response(request.app[DEPS], body)
    return web.Response(body=reply, content_type="application/timestamp-reply")
