"""Field encryption for personal data at rest, lookup hashes, and masking for display.

ID numbers are encrypted with AES-GCM (cryptography) so a stolen database dump does not
leak them; an HMAC of the number allows uniqueness checks without decrypting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.config import Config


def derive_key(secret: str, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"laborsign", info=purpose.encode()
    ).derive(secret.encode())


class FieldCipher:
    PREFIX = "v1:"

    def __init__(self, key: bytes, lookup_key: bytes) -> None:
        self._key = key
        self._aead = AESGCM(key)
        self._lookup_key = lookup_key

    def __reduce__(self) -> tuple[type[FieldCipher], tuple[bytes, bytes]]:
        # Picklable for our own process pool (core.cpu), e.g. the Excel import's row
        # validation, which encrypts ID numbers as it goes.
        return (FieldCipher, (self._key, self._lookup_key))

    @classmethod
    def from_config(cls, config: Config) -> FieldCipher:
        root = config.security.data_key or config.server.secret_key
        return cls(derive_key(root, "field-encryption"), derive_key(root, "field-lookup"))

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return self.PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        raw = base64.urlsafe_b64decode(token.removeprefix(self.PREFIX))
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self._lookup_key, value.encode(), hashlib.sha256).hexdigest()


def mask_id_number(number: str) -> str:
    """110101********123X: region and last four, the birth date hidden."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_bank_card(card: str) -> str:
    return "**** " + card[-4:] if len(card) >= 4 else "****"


def mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1) if name else ""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
