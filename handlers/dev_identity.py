"""Dev-only stand-in for the identity provider's H5 liveness page (dev mode only).

The dev identity provider sends the browser here; "开始检测" leads back to our return
URL. Only our own face-return paths are accepted, so this page is not an open redirect.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from aiohttp import web

from core.errors import InvalidInput
from handlers.keys import DEPS
from handlers.render import render

routes = web.RouteTableDef()

# Our face-return pages: the real-name check's, and the legal representative's face
# check in enterprise certification.
RETURN_PATHS = re.compile(r"/identity/face/return|/console/attempt/[0-9A-Za-z_-]{1,64}/face")


def _return_url(request: web.Request, value: str) -> str:
    """The return URL, only on our own site (the configured base URL's origin).

    Absolute, because this page may be served on another origin (`[identity] dev_url`),
    as a real provider's page is.
    """
    parts = urlsplit(value or "")
    base = urlsplit(request.app[DEPS].config.server.base_url)
    same_origin = (parts.scheme, parts.netloc) in {("", ""), (base.scheme, base.netloc)}
    if not same_origin or not RETURN_PATHS.fullmatch(parts.path) or "\\" in value:
        raise InvalidInput("返回地址无效", code="invalid_return_url")
    query = f"?{parts.query}" if parts.query else ""
    return f"{base.scheme}://{base.netloc}{parts.path}{query}"


@routes.get("/dev/identity/face/{ref}")
async def dev_face_page(request: web.Request) -> web.Response:
    ref = request.match_info["ref"][:128]
    return_url = _return_url(request, request.query.get("return", ""))
    return render(request, "dev/identity_face.html", {"ref": ref, "return_url": return_url})
