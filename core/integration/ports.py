"""The port webhook deliveries go out through (core/adapters/webhook_http.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Bounds of one attempt: the receiver must answer within these; what it says is read up
# to MAX_RESPONSE_BYTES and kept (the start of it) in the delivery log.
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class PostResult:
    # The HTTP status, or None when there was no answer (refused, timed out).
    status: int | None
    # The start of the answer's body, or what went wrong.
    text: str
    ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str], *,
                   allow_private: bool) -> PostResult:
        """POST once: no redirects followed, no proxy, bounded time and answer size;
        outside dev mode (allow_private False) the host's resolved addresses must all
        be public and the connection goes to those addresses only."""
        ...
