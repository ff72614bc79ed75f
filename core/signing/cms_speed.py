"""Signer mixin that pre-encodes the per-certificate signed attribute once.

pyHanko rebuilds the signing-certificate-v2 attribute from Python values for every
signature and then re-encodes it (asn1crypto), which measured at several milliseconds per
signature, mostly in re-encoding the issuer's distinguished name. The value depends only on
the certificate, so we encode it once per worker and hand pyHanko a parsed copy whose
cached encoding is reused as is. The bytes are identical to what pyHanko would produce.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.sign import attributes
from pyhanko.sign.general import as_signing_certificate_v2


@lru_cache(maxsize=256)
def _signing_certificate_v2_der(cert_der: bytes) -> bytes:
    return as_signing_certificate_v2(asn1_x509.Certificate.load(cert_der)).dump()


class CachedSigningCertificateV2Provider(attributes.SigningCertificateV2Provider):
    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2.load(_signing_certificate_v2_der(self.signing_cert.dump()))


class CachedAttributesMixin:
    """Put before a pyHanko Signer class in the bases."""

    def _signed_attr_providers(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for provider in super()._signed_attr_providers(*args, **kwargs):  # type: ignore[misc]
            if type(provider) is attributes.SigningCertificateV2Provider:
                yield CachedSigningCertificateV2Provider(provider.signing_cert)
            else:
                yield provider
