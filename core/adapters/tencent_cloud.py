"""Tencent Cloud API v3 calls (TC3-HMAC-SHA256), shared by the SMS and FaceID adapters.

Written by hand because the official SDK is synchronous (it would block the event
loop) and pulls in far more than the one signing scheme we need.
Reference: Tencent Cloud API 3.0, "签名方法 v3".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp

from core.errors import ProviderUnavailable


class TencentCloudError(Exception):
    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_headers(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    action: str,
    version: str,
    region: str,
    payload: str,
    timestamp: int,
) -> dict[str, str]:
    """Headers for one signed POST with a JSON body."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    content_type = "application/json; charset=utf-8"
    canonical_headers = f"content-type:{content_type}\nhost:{host}\nx-tc-action:{action.lower()}\n"
    signed_headers = "content-type;host;x-tc-action"
    canonical_request = "\n".join(
        [
            "POST", "/", "", canonical_headers, signed_headers,
            hashlib.sha256(payload.encode()).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256", str(timestamp), scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signing_key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Authorization": (
            f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        ),
        "Content-Type": content_type,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": version,
        "X-TC-Region": region,
    }


async def call(
    *,
    endpoint: str,
    service: str,
    action: str,
    version: str,
    region: str,
    secret_id: str,
    secret_key: str,
    params: dict[str, Any],
    timeout_seconds: float = 8.0,
) -> dict[str, Any]:
    """POST one action; returns `Response` or raises TencentCloudError / ProviderUnavailable."""
    host = endpoint.split("://", 1)[-1].rstrip("/")
    payload = json.dumps(params, ensure_ascii=False, separators=(",", ":"))
    headers = tc3_headers(
        secret_id=secret_id, secret_key=secret_key, service=service, host=host, action=action,
        version=version, region=region, payload=payload, timestamp=int(time.time()),
    )
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as http,
            http.post(endpoint, data=payload.encode(), headers=headers) as resp,
        ):
            body = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ProviderUnavailable() from exc
    response = body.get("Response", {}) if isinstance(body, dict) else {}
    if "Error" in response:
        err = response["Error"]
        raise TencentCloudError(err.get("Code", "?"), err.get("Message", ""),
                                response.get("RequestId"))
    return response
