"""The built-in RFC 3161 time-stamping authority (served at POST /tsa when tsa_url is empty).

pyHanko's DummyTimeStamper builds the TSTInfo and SignedData; we add ECDSA signing (it
only signs with RSA) and the request checks a real TSA makes. The response is computed
from bytes to bytes so the handler can run it off the event loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asn1crypto import algos, cms, core, tsp
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

MAX_REQUEST_BYTES = 8 * 1024
DIGEST_LENGTHS = {"sha256": 32, "sha384": 48, "sha512": 64}
# Our TSA policy: a UUID-based OID (ITU-T X.667, arc 2.25); the policy text is in
# docs/signing.md.
POLICY_OID = "2.25.229345619366490687061348878559451430082"


class LocalTimeStamper(DummyTimeStamper):
    """DummyTimeStamper that signs with ECDSA or RSA and uses the wall clock."""

    def __init__(self, tsa_cert_der: bytes, tsa_key_pkcs8: bytes, chain_der: tuple[bytes, ...]):
        super().__init__(
            tsa_cert=asn1_x509.Certificate.load(tsa_cert_der),
            tsa_key=asn1_keys.PrivateKeyInfo.load(tsa_key_pkcs8),
            certs_to_embed=None,
        )
        self.certs_to_embed = [asn1_x509.Certificate.load(c) for c in chain_der]
        self._key = serialization.load_der_private_key(tsa_key_pkcs8, password=None)
        # Encoded once: rebuilding it from Python values for every token re-encodes the
        # certificate's names, which cost more than the rest of the response together.
        from pyhanko.sign import general
        from pyhanko.sign.general import simple_cms_attribute

        self._signing_cert_attr = simple_cms_attribute(
            "signing_certificate", general.as_signing_certificate(self.tsa_cert)
        ).dump()

    def _build_tst_info(
        self, message_imprint: tsp.MessageImprint, dt: datetime, req: tsp.TimeStampReq
    ) -> tsp.TSTInfo:
        info = super()._build_tst_info(message_imprint, dt, req)
        info["policy"] = tsp.ObjectIdentifier(POLICY_OID)
        # Our clock is NTP-disciplined; one second is the accuracy we claim.
        info["accuracy"] = tsp.Accuracy({"seconds": 1})
        return info

    def _sign_tst_info(
        self, tst_info_data: bytes, md_algorithm: str, dt: datetime
    ) -> tuple[bytes, cms.CMSAttributes]:
        # Same attributes as the parent; only the signature primitive differs.
        from pyhanko.sign.general import simple_cms_attribute

        digest = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        digest.update(tst_info_data)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                cms.CMSAttribute.load(self._signing_cert_attr),
                simple_cms_attribute("message_digest", digest.finalize()),
            ]
        )
        md = get_pyca_cryptography_hash(md_algorithm.upper())
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            signature = self._key.sign(signed_attrs.dump(), ec.ECDSA(md))
        elif isinstance(self._key, rsa.RSAPrivateKey):
            signature = self._key.sign(signed_attrs.dump(), padding.PKCS1v15(), md)
        else:  # pragma: no cover - the CA only makes EC and RSA keys
            raise TypeError("unsupported TSA key type")
        return signature, signed_attrs

    def _build_signed_data(
        self,
        tst_info_data: bytes,
        md_algorithm: str,
        signature: bytes,
        signed_attrs: cms.CMSAttributes,
    ) -> dict[str, Any]:
        result: dict[str, Any] = super()._build_signed_data(
            tst_info_data, md_algorithm, signature, signed_attrs
        )
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            sig_info = result["signer_infos"][0]
            sig_info["signature_algorithm"] = algos.SignedDigestAlgorithm(
                {"algorithm": f"{md_algorithm}_ecdsa"}
            )
        return result


class StatusOnlyResponse(core.Sequence):
    """TimeStampResp without a token (RFC 3161 2.4.2: absent unless granted).
    asn1crypto's TimeStampResp marks the token as required, so it cannot write this."""

    _fields = [("status", tsp.PKIStatusInfo)]  # noqa: RUF012 - asn1crypto's declaration style


def _rejection(failure: str, text: str) -> bytes:
    return StatusOnlyResponse(
        {
            "status": tsp.PKIStatusInfo(
                {
                    "status": tsp.PKIStatus("rejection"),
                    "status_string": [text],
                    "fail_info": tsp.PKIFailureInfo({failure}),
                }
            )
        }
    ).dump()


def respond(stamper: LocalTimeStamper, request_der: bytes) -> bytes:
    """Answer one DER TimeStampReq with a DER TimeStampResp (granted or rejection)."""
    if len(request_der) > MAX_REQUEST_BYTES:
        return _rejection("bad_request", "request too large")
    try:
        req = tsp.TimeStampReq.load(request_der, strict=True)
        imprint = req["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
        _ = req["nonce"].native, req["version"].native
    except (ValueError, TypeError, KeyError):
        return _rejection("bad_data_format", "malformed TimeStampReq")
    if algorithm not in DIGEST_LENGTHS:
        return _rejection("bad_alg", f"unsupported hash algorithm {algorithm}")
    if not isinstance(hashed, bytes) or len(hashed) != DIGEST_LENGTHS[algorithm]:
        return _rejection("bad_data_format", "message imprint has the wrong length")
    return stamper.request_tsa_response(req).dump()
