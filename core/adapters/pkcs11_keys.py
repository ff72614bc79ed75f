"""PKCS#11 key store: signer keys generated inside an HSM or hardware token.

The private key never leaves the token; signing goes through pyHanko's PKCS11Signer.
The key reference that crosses into a signing worker holds the module path, token label,
key label and PIN, and opens its own session there (sessions cannot be pickled).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pkcs11
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pkcs11 import Attribute, KeyType
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pyhanko.config.pkcs11 import TokenCriteria
from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

from core.signing.cms_speed import CachedAttributesMixin

_lock = threading.Lock()


class FastPkcs11Signer(CachedAttributesMixin, PKCS11Signer):
    """pyHanko's PKCS11Signer with the per-certificate signed attribute encoded once."""


def _token(lib_path: str, token_label: str) -> pkcs11.Token:
    return pkcs11.lib(lib_path).get_token(token_label=token_label)


@dataclass(frozen=True)
class Pkcs11KeyRef:
    lib_path: str
    token_label: str
    key_label: str
    pin: str = field(repr=False)

    @contextmanager
    def open_signer(
        self, certificate_der: bytes, chain_der: tuple[bytes, ...]
    ) -> Iterator[FastPkcs11Signer]:
        session = open_pkcs11_session(
            self.lib_path, token_criteria=TokenCriteria(label=self.token_label), user_pin=self.pin
        )
        cert = asn1_x509.Certificate.load(certificate_der)
        try:
            yield FastPkcs11Signer(
                session,
                key_label=self.key_label,
                signing_cert=cert,
                ca_chain=[asn1_x509.Certificate.load(c) for c in chain_der],
                # Many tokens (SoftHSM2 among them) offer only raw CKM_ECDSA: pyHanko
                # then hashes and the token signs the digest.
                use_raw_mechanism=cert.public_key.algorithm == "ec",
            )
        finally:
            session.close()


class Pkcs11KeyStore:
    name = "pkcs11"

    def __init__(self, lib_path: str, token_label: str, pin: str) -> None:
        if not (lib_path and os.path.exists(lib_path)):
            raise ValueError(f"PKCS#11 module not found: {lib_path!r}")
        if not token_label:
            raise ValueError("[signing] pkcs11_token_label is empty")
        self.lib_path, self.token_label, self._pin = lib_path, token_label, pin

    def generate(self, algorithm: str, label: str) -> tuple[PublicKeyTypes, bytes | None]:
        # One session at a time: some modules serialise key generation badly.
        with _lock, _token(self.lib_path, self.token_label).open(
            rw=True, user_pin=self._pin
        ) as session:
            key_id = label.encode()
            if algorithm == "ecdsa-p256":
                params = session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                    local=True,
                )
                pub, _ = params.generate_keypair(store=True, label=label, id=key_id)
                return load_der_public_key(encode_ec_public_key(pub)), None
            if algorithm == "rsa-2048":
                pub, _ = session.generate_keypair(
                    KeyType.RSA, 2048, store=True, label=label, id=key_id
                )
                numbers = rsa.RSAPublicNumbers(
                    int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big"),
                    int.from_bytes(pub[Attribute.MODULUS], "big"),
                )
                return numbers.public_key(), None
        raise ValueError(f"unknown key algorithm {algorithm!r}")

    def key_ref(self, label: str, wrapped: bytes | None) -> Pkcs11KeyRef:
        return Pkcs11KeyRef(self.lib_path, self.token_label, label, self._pin)
