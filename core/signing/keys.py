"""Signer key generation and wrapping with the key-encryption key (KEK).

Every wrapped key has its own AES-256-GCM key derived from the KEK and the key's label,
and the label is bound as associated data: a ciphertext copied onto another row does not
decrypt. The plaintext key exists only inside `DbKeyRef.open_signer`, i.e. inside the
signing call that the owner has just confirmed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyhanko.sign.signers import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from core.config import Config
from core.crypto import derive_key
from core.signing.cms_speed import CachedAttributesMixin

ALGORITHMS = ("ecdsa-p256", "rsa-2048")
WRAP_VERSION = b"\x01"


class KeyUnwrapError(Exception):
    """The wrapped key does not decrypt with this KEK and label (wrong KEK or tampered)."""


def kek_from_config(config: Config) -> bytes:
    """The KEK: [signing] kek when set, else derived from the server secret (dev)."""
    root = config.signing.kek or config.server.secret_key
    if not root:
        raise ValueError("no KEK: set LABORSIGN_SIGNING_KEK (or the server secret in dev)")
    return derive_key(root, "signing-kek")


def generate_private_key(algorithm: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key algorithm {algorithm!r}; use one of {ALGORITHMS}")


def pkcs8_der(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def unwrap_key_for(kek: bytes, label: str) -> bytes:
    """The per-key AES key: HKDF(KEK, label). Lets a worker unwrap one key, not all."""
    return derive_key(kek.hex(), f"signer-key:{label}")


def wrap(kek: bytes, label: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(12)
    sealed = AESGCM(unwrap_key_for(kek, label)).encrypt(nonce, plaintext, label.encode())
    return WRAP_VERSION + nonce + sealed


def unwrap_with(key: bytes, label: str, wrapped: bytes) -> bytes:
    if not wrapped.startswith(WRAP_VERSION) or len(wrapped) < 1 + 12 + 16:
        raise KeyUnwrapError("unknown wrapped-key format")
    try:
        return AESGCM(key).decrypt(wrapped[1:13], wrapped[13:], label.encode())
    except Exception as exc:  # InvalidTag: wrong KEK, wrong label or altered bytes
        raise KeyUnwrapError("wrapped key does not decrypt") from exc


def unwrap(kek: bytes, label: str, wrapped: bytes) -> bytes:
    return unwrap_with(unwrap_key_for(kek, label), label, wrapped)


@dataclass(frozen=True)
class DbKeyRef:
    """A KEK-wrapped key from the database; unwrapped only inside `open_signer`."""

    label: str
    wrapped: bytes = field(repr=False)
    unwrap_key: bytes = field(repr=False)

    @contextmanager
    def open_signer(
        self, certificate_der: bytes, chain_der: tuple[bytes, ...]
    ) -> Iterator[SimpleSigner]:
        plaintext = unwrap_with(self.unwrap_key, self.label, self.wrapped)
        yield simple_signer(plaintext, certificate_der, chain_der)


@dataclass(frozen=True)
class PlainKeyRef:
    """An unwrapped PKCS#8 key held by the caller (the CA's own TSA key, benchmarks)."""

    pkcs8: bytes = field(repr=False)

    @contextmanager
    def open_signer(
        self, certificate_der: bytes, chain_der: tuple[bytes, ...]
    ) -> Iterator[SimpleSigner]:
        yield simple_signer(self.pkcs8, certificate_der, chain_der)


@lru_cache(maxsize=256)
def load_certificate(der: bytes) -> asn1_x509.Certificate:
    """Parsed certificates are reused across signatures in a worker: parsing and hashing
    them again for every signature is a measurable share of the signing time."""
    return asn1_x509.Certificate.load(der)


class FastSimpleSigner(CachedAttributesMixin, SimpleSigner):
    """pyHanko's SimpleSigner with the per-certificate attribute encoded once."""


def simple_signer(
    pkcs8: bytes, certificate_der: bytes, chain_der: tuple[bytes, ...]
) -> SimpleSigner:
    return FastSimpleSigner(
        signing_cert=load_certificate(certificate_der),
        signing_key=asn1_keys.PrivateKeyInfo.load(pkcs8),
        cert_registry=SimpleCertificateStore.from_certs(
            [load_certificate(c) for c in chain_der]
        ),
    )


class DbKeyStore:
    """Keys generated in this process and kept wrapped with the KEK in the database."""

    name = "db"

    def __init__(self, kek: bytes) -> None:
        self._kek = kek

    def generate(self, algorithm: str, label: str) -> tuple[PublicKeyTypes, bytes | None]:
        key = generate_private_key(algorithm)
        return key.public_key(), wrap(self._kek, label, pkcs8_der(key))

    def key_ref(self, label: str, wrapped: bytes | None) -> DbKeyRef:
        if wrapped is None:
            raise KeyUnwrapError("certificate has no wrapped key")
        return DbKeyRef(label, wrapped, unwrap_key_for(self._kek, label))
