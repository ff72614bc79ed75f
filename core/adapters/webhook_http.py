"""Webhook deliveries over HTTP (aiohttp), guarded against server-side request forgery.

The host name is resolved once, every address is checked (core/integration/netguard),
and the connection is made to those checked addresses through a resolver that returns
nothing else, so DNS cannot answer differently between the check and the connect.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from core.errors import DomainError
from core.integration import netguard
from core.integration.ports import (
    CONNECT_TIMEOUT,
    MAX_RESPONSE_BYTES,
    TOTAL_TIMEOUT,
    PostResult,
)

USER_AGENT = "LaborSign-Webhooks/1.0"


class _PinnedResolver(AbstractResolver):
    """Answers with the addresses already checked, whatever DNS says now."""

    def __init__(self, host: str, addresses: list[str], port: int) -> None:
        self.host, self.addresses, self.port = host, addresses, port

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host != self.host:
            raise OSError(f"unexpected host {host}")
        return [ResolveResult(
            hostname=host, host=a, port=port or self.port,
            family=socket.AF_INET6 if ":" in a else socket.AF_INET, proto=0,
            flags=socket.AI_NUMERICHOST) for a in self.addresses]

    async def close(self) -> None:
        return None


class HttpWebhookSender:
    async def post(self, url: str, body: bytes, headers: dict[str, str], *,
                   allow_private: bool) -> PostResult:
        started = time.perf_counter()

        def took() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            # The scheme rule (https outside dev mode) is the save's; here the address is.
            target = netguard.parse_url(url, dev_mode=True)
            addresses = (await netguard.public_addresses(target.host, target.port)
                         if not allow_private else None)
        except (netguard.RefusedAddress, DomainError) as exc:
            return PostResult(None, "", took(), f"refused: {exc}"[:500])
        connector_args: dict[str, Any] = {"use_dns_cache": False, "force_close": True}
        if addresses is not None:
            connector_args["resolver"] = _PinnedResolver(target.host, addresses, target.port)
        timeout = aiohttp.ClientTimeout(total=TOTAL_TIMEOUT, sock_connect=CONNECT_TIMEOUT)
        try:
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(**connector_args), timeout=timeout,
                trust_env=False, headers={"User-Agent": USER_AGENT},
            ) as session, session.post(
                url, data=body, allow_redirects=False,
                headers={**headers, "Content-Type": "application/json"},
            ) as response:
                raw = await response.content.read(MAX_RESPONSE_BYTES)
                text = raw[:1000].decode("utf-8", "replace")
                return PostResult(response.status, text, took())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return PostResult(None, "", took(), f"{type(exc).__name__}: {exc}"[:500])
