"""Which webhook URLs the platform may call: public addresses only (outside dev mode).

A URL is checked when it is saved and again at every delivery, after the host name
is resolved; the delivery then connects to exactly the addresses that were checked, so
a name that resolves to a public address at save time and to 127.0.0.1 or the cloud
metadata address (169.254.169.254) later (DNS rebinding) is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from core.errors import InvalidInput

MAX_URL = 500
RESOLVE_TIMEOUT = 5.0
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedAddress(Exception):
    """The host resolves to an address the platform does not call."""


def is_public(address: str) -> bool:
    """A globally routable unicast address: not private, loopback, link-local, shared
    (100.64/10), reserved, multicast or unspecified; IPv4-mapped IPv6 unwrapped."""
    try:
        ip: IpAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


def parse_url(url: str, *, dev_mode: bool) -> Target:
    """The URL's parts, or InvalidInput: http(s) only (https outside dev mode), a host,
    no user:password, a bounded length."""
    url = (url or "").strip()
    bad = InvalidInput("回调地址格式不正确，须为 https:// 开头的网址", code="invalid_webhook_url",
                       field="url")
    if not url or len(url) > MAX_URL or any(c.isspace() for c in url):
        raise bad
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError:
        raise bad from None
    allowed = ("http", "https") if dev_mode else ("https",)
    if parts.scheme not in allowed or not parts.hostname or parts.username is not None \
            or parts.password is not None:
        raise bad
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https"
                                                         else 80))


async def resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (an IP literal resolves to itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def public_addresses(host: str, port: int) -> list[str]:
    """The host's addresses when every one is public, else RefusedAddress."""
    try:
        addresses = await resolve(host, port)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise RefusedAddress(f"cannot resolve {host}: {type(exc).__name__}") from None
    if not addresses:
        raise RefusedAddress(f"{host} has no address")
    refused = [a for a in addresses if not is_public(a)]
    if refused:
        raise RefusedAddress(f"{host} resolves to a non-public address {refused[0]}")
    return addresses


async def check_url(url: str, *, dev_mode: bool) -> str:
    """The cleaned URL, refused (InvalidInput) when it is malformed or, outside dev mode,
    names or resolves to a private, loopback or link-local address."""
    target = parse_url(url, dev_mode=dev_mode)
    if not dev_mode:
        try:
            await public_addresses(target.host, target.port)
        except RefusedAddress:
            raise InvalidInput("回调地址不能指向内网、本机或链路本地地址，且须能解析到公网地址",
                               code="webhook_url_not_public", field="url") from None
    return url.strip()
