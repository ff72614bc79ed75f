"""Webhook signatures: HMAC-SHA256 over `id.timestamp.body`.

The scheme is the Standard Webhooks one (also what Svix sends): headers
`webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
(`v1,<base64 HMAC>`, several separated by spaces while a secret is rotated). The secret
is `whsec_` + base64 of 32 random bytes; the HMAC key is those bytes. A receiver
refuses a timestamp more than REPLAY_WINDOW away from its clock and remembers the ids
it processed. `verify` is the receiver side, documented in docs/integration.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 (a marker, not a secret)
REPLAY_WINDOW_SECONDS = 300
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class InvalidSignature(Exception):
    """The delivery is not from the platform, was altered, or is too old."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("not a webhook secret")
    return base64.b64decode(secret[len(SECRET_PREFIX):])


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one delivery attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, msg_id, timestamp, body)}


def verify(secret: str, received: Mapping[str, str], body: bytes, *,
           now: float | None = None, tolerance: int = REPLAY_WINDOW_SECONDS) -> str:
    """Check a delivery's headers against its raw body; the event id when it is genuine
    and fresh, else InvalidSignature. (Receivers also drop ids they have seen.)"""
    lowered = {k.lower(): v for k, v in received.items()}
    msg_id = lowered.get(ID_HEADER, "")
    stamp = lowered.get(TIMESTAMP_HEADER, "")
    offered = lowered.get(SIGNATURE_HEADER, "")
    if not msg_id or not stamp.isdigit() or not offered:
        raise InvalidSignature("missing headers")
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:
        raise InvalidSignature("timestamp outside the replay window")
    expected = sign(secret, msg_id, int(stamp), body)
    if not any(hmac.compare_digest(expected, candidate)
               for candidate in offered.split(" ") if candidate):
        raise InvalidSignature("signature mismatch")
    return msg_id
