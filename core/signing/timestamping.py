"""TimeStamper adapters: descriptions that cross into worker processes and build the clients.

An outside TSA ([signing] tsa_url) is asked over HTTP (HttpTimeStamperSpec). The built-in
TSA (tsa_url empty) signs in the process that needs the token (LocalTimeStamperSpec); the
app's POST /tsa serves the same TSA to outside clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from asn1crypto import tsp
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError, set_tsp_headers


class HttpTimeStamper(TimeStamper):
    """RFC 3161 over HTTP(S), as pyHanko's HTTPTimeStamper, without its per-request cost.

    pyHanko's client opens every request with a session whose TLS context loads the whole
    certifi CA bundle again (≈ 40 ms of CPU, even for a plain http:// TSA): two of those
    per signature were over half of a signature's CPU. aiohttp's default connector shares
    one verified context (the system trust store) per process.
    """

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__()
        self.url = url
        self.timeout = timeout

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            # A session per request: each signature runs in its own event loop.
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    self.url, data=req.dump(), headers=set_tsp_headers({}),
                    raise_for_status=True, timeout=aiohttp.ClientTimeout(total=self.timeout),
                ) as response,
            ):
                data = await response.read()
                if response.content_type != "application/timestamp-reply":
                    raise TimestampRequestError("Timestamp server answered with the wrong type")
        except (aiohttp.ClientError, OSError) as exc:
            raise TimestampRequestError("Error while contacting timestamp service") from exc
        return tsp.TimeStampResp.load(data)


@dataclass(frozen=True)
class HttpTimeStamperSpec:
    url: str
    timeout: float = 10.0
    # Room for the token in the signature container: a token embeds the TSA's chain.
    token_reserve: int = 12 * 1024

    def build(self) -> TimeStamper:
        return HttpTimeStamper(self.url, timeout=self.timeout)


@dataclass(frozen=True)
class LocalTimeStamperSpec:
    tsa_cert_der: bytes
    tsa_key_pkcs8: bytes = field(repr=False)
    chain_der: tuple[bytes, ...] = ()
    token_reserve: int = 6 * 1024

    def build(self) -> TimeStamper:
        from core.signing.tsa import LocalTimeStamper

        return LocalTimeStamper(self.tsa_cert_der, self.tsa_key_pkcs8, self.chain_der)


