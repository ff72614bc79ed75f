"""Small request helpers shared by H5 and API handlers."""

from __future__ import annotations

import ipaddress
from typing import Any

from aiohttp import web

from core.context import RequestMeta
from core.errors import InvalidInput, Unauthenticated
from core.sessions import CurrentSession
from handlers.keys import DEPS, current_session


def client_ip(request: web.Request) -> str | None:
    peer = request.remote
    trusted = request.app[DEPS].config.server.trusted_proxies
    if peer and trusted:
        proxies = {p.strip() for p in trusted.split(",") if p.strip()}
        forwarded = request.headers.get("X-Forwarded-For")
        if peer in proxies and forwarded:
            candidate = forwarded.split(",")[-1].strip()
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return peer
    return peer


def request_meta(request: web.Request) -> RequestMeta:
    return RequestMeta(ip=client_ip(request), user_agent=request.headers.get("User-Agent"))


def require_session(request: web.Request) -> CurrentSession:
    session = current_session(request)
    if session is None:
        raise Unauthenticated()
    return session


async def json_body(request: web.Request) -> dict[str, Any]:
    if not request.content_type.startswith("application/json"):
        raise InvalidInput("请求体须为 JSON", code="invalid_json")
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("请求体不是合法的 JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidInput("请求体须为 JSON 对象", code="invalid_json")
    return body


async def form_data(request: web.Request) -> dict[str, str]:
    """Text fields of a submitted form (file parts are read by upload handlers)."""
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}
