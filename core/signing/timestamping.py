"""TimeStamper adapters: descriptions that cross into worker processes and build pyHanko clients.

Production and development both use RFC 3161 over HTTP: [signing] tsa_url, or the app's own
POST /tsa when that is empty. The in-process LocalTimeStamperSpec exists for the benchmark's
"no network" comparison only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.api import TimeStamper

from core.config import Config


@dataclass(frozen=True)
class HttpTimeStamperSpec:
    url: str
    timeout: float = 10.0
    # Room for the token in the signature container: a token embeds the TSA's chain.
    token_reserve: int = 12 * 1024

    def build(self) -> TimeStamper:
        return HTTPTimeStamper(self.url, timeout=self.timeout)


@dataclass(frozen=True)
class LocalTimeStamperSpec:
    tsa_cert_der: bytes
    tsa_key_pkcs8: bytes = field(repr=False)
    chain_der: tuple[bytes, ...] = ()
    token_reserve: int = 6 * 1024

    def build(self) -> TimeStamper:
        from core.signing.tsa import LocalTimeStamper

        return LocalTimeStamper(self.tsa_cert_der, self.tsa_key_pkcs8, self.chain_der)


def tsa_url(config: Config) -> str:
    """The TSA the app uses: the configured one, else its own built-in /tsa."""
    return config.signing.tsa_url or f"{config.server.base_url.rstrip('/')}/tsa"


def timestamper_from_config(config: Config) -> HttpTimeStamperSpec:
    return HttpTimeStamperSpec(tsa_url(config))
