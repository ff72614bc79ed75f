"""Ports of the signing engine: certificate authority, timestamping, signer keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pyhanko.sign.signers import Signer
from pyhanko.sign.timestamps import TimeStamper as PyHankoTimeStamper

OWNER_TYPES = ("person", "enterprise", "seal", "platform")


@dataclass(frozen=True)
class SubjectSpec:
    """Who a certificate names. serial_number carries the masked ID or the credit code."""

    common_name: str
    owner_type: str
    organization: str | None = None
    serial_number: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: str | None = None


class CertificateAuthority(Protocol):
    """Issues end-entity certificates, revokes them through CRLs, publishes the root."""

    key_algorithm: str

    def issue(
        self, subject: SubjectSpec, public_key: PublicKeyTypes, *, validity_days: int
    ) -> x509.Certificate: ...

    def crl(self, revoked: list[RevokedEntry]) -> bytes:
        """DER CRL of the issuing CA listing `revoked`."""
        ...

    def root_crl(self) -> bytes:
        """DER CRL of the root (covers the issuing CA)."""
        ...

    def root_certificate(self) -> x509.Certificate: ...

    def chain(self) -> list[x509.Certificate]:
        """Issuing CA then root: what a signature embeds besides the signer's certificate."""
        ...


class SignerKeyRef(Protocol):
    """Where a signer's private key is, in a form that can cross into a worker process."""

    def open_signer(
        self, certificate_der: bytes, chain_der: tuple[bytes, ...]
    ) -> AbstractContextManager[Signer]:
        """A pyHanko Signer using the key, released when the context exits."""
        ...


class KeyStore(Protocol):
    """Creates signer keys and hands out references to them."""

    name: str

    def generate(self, algorithm: str, label: str) -> tuple[PublicKeyTypes, bytes | None]:
        """Make a key; returns its public key and, for a database store, the wrapped key."""
        ...

    def key_ref(self, label: str, wrapped: bytes | None) -> SignerKeyRef: ...


class TimeStamperSpec(Protocol):
    """A picklable description of a TSA that builds pyHanko's client in the worker."""

    # Bytes of signature container to set aside for the token (it embeds the TSA chain).
    @property
    def token_reserve(self) -> int: ...

    def build(self) -> PyHankoTimeStamper: ...

    # Specs are cache keys (one pyHanko client per TSA in a worker process).
    def __hash__(self) -> int: ...


@dataclass(frozen=True)
class SignerMaterial:
    """Everything a worker needs to sign for one owner: certificate, chain, key reference."""

    certificate_der: bytes
    chain_der: tuple[bytes, ...]
    key: SignerKeyRef = field(repr=False)

    def signer(self) -> AbstractContextManager[Signer]:
        return self.key.open_signer(self.certificate_der, self.chain_der)


def iter_der(certs: list[x509.Certificate]) -> Iterator[bytes]:
    from cryptography.hazmat.primitives.serialization import Encoding

    for cert in certs:
        yield cert.public_bytes(Encoding.DER)
