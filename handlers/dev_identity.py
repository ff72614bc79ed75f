"""Dev-only stand-in for the identity provider's H5 liveness page (dev mode only).

The dev identity provider sends the browser here; "开始检测" leads back to our return
URL. Only our own face-return path is accepted, so this page is not an open redirect.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from core.errors import InvalidInput
from handlers.keys import DEPS
from handlers.render import render

routes = web.RouteTableDef()

RETURN_PATH = "/identity/face/return"


def _return_path(request: web.Request, value: str) -> str:
    """The return URL as a same-site path (the configured base URL's origin or none)."""
    parts = urlsplit(value or "")
    base = urlsplit(request.app[DEPS].config.server.base_url)
    same_origin = (parts.scheme, parts.netloc) in {("", ""), (base.scheme, base.netloc)}
    if not same_origin or parts.path != RETURN_PATH or "\\" in value:
        raise InvalidInput("返回地址无效", code="invalid_return_url")
    return parts.path + (f"?{parts.query}" if parts.query else "")


@routes.get("/dev/identity/face/{ref}")
async def dev_face_page(request: web.Request) -> web.Response:
    ref = request.match_info["ref"][:128]
    return_path = _return_path(request, request.query.get("return", ""))
    return render(request, "dev/identity_face.html", {"ref": ref, "return_path": return_path})
