"""Small request helpers shared by H5 and API handlers."""

from __future__ import annotations

import ipaddress
from typing import Any

from aiohttp import web

from core.context import RequestMeta
from core.errors import InvalidInput, Unauthenticated
from core.sessions import CurrentSession
from handlers.keys import DEPS, current_session

# Headers a reverse proxy adds; their presence says the peer is not the browser.
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _trusted_proxies(request: web.Request) -> set[str]:
    trusted = request.app[DEPS].config.server.trusted_proxies
    return {p.strip() for p in trusted.split(",") if p.strip()}


def client_ip(request: web.Request) -> str | None:
    peer = request.remote
    proxies = _trusted_proxies(request)
    if peer and proxies:
        forwarded = request.headers.get("X-Forwarded-For")
        if peer in proxies and forwarded:
            candidate = forwarded.split(",")[-1].strip()
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return peer
    return peer


def is_loopback_address(value: str | None) -> bool:
    """An IP address (IPv4-mapped IPv6 included) or "localhost" naming this machine."""
    if not value:
        return False
    if value.strip().lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_loopback_client(request: web.Request) -> bool:
    """Whether the browser runs on this machine.

    The client is the transport's peer, or the address a trusted proxy forwards. A
    loopback peer that is not a trusted proxy but carries forwarding headers is a local
    reverse proxy speaking for someone else: not loopback.
    """
    peer = request.remote
    if peer not in _trusted_proxies(request) and any(
        name in request.headers for name in FORWARDING_HEADERS
    ):
        return False
    return is_loopback_address(client_ip(request))


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
