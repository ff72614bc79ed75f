"""API housekeeping: the CSRF token for cookie-session clients."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from handlers.api.registry import ApiRoutes, reply
from handlers.csrf import csrf_token_for

api = ApiRoutes(tag="meta")


class CsrfOut(BaseModel):
    csrf_token: str


@api.route("GET", "/csrf", summary="CSRF token for browser clients (send as X-CSRF-Token)",
           response=CsrfOut, auth=False)
async def get_csrf(request: web.Request) -> web.Response:
    return reply(CsrfOut(csrf_token=csrf_token_for(request)))
