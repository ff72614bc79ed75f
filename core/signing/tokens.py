"""What an evidence package needs from each signature of a signed PDF: the signer's
certificate, the signature value and the RFC 3161 timestamp token made over it.

A token can be checked offline by anyone with OpenSSL: the token's message imprint is
the SHA-256 of the signature value (CAdES signature-time-stamp), so
`openssl ts -verify -token_in -in N.tst -data N.sig -CAfile chain.pem` checks the
token, its TSA certificate and that it covers that signature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms as asn1_cms
from asn1crypto import tsp as asn1_tsp

from core.signing.pdfinput import PARSE_ERRORS, PdfInvalid, ensure_off_loop, open_pdf


@dataclass(frozen=True)
class SignatureToken:
    index: int
    field_name: str
    signer_subject: str
    signer_serial: str
    signer_certificate_der: bytes
    signing_time: datetime | None
    signature_value: bytes
    # The signature's own timestamp (None: not timestamped).
    token_der: bytes | None
    timestamp_time: datetime | None
    tsa_name: str | None
    # SHA-256 over the bytes this signature covers (its /ByteRange).
    signed_range_sha256: str
    # How many bytes of the file this revision covers.
    covered_bytes: int


def _token(signer_info: asn1_cms.SignerInfo) -> asn1_cms.ContentInfo | None:
    attrs = signer_info["unsigned_attrs"]
    if not isinstance(attrs, asn1_cms.CMSAttributes):
        return None
    for attr in attrs:
        if attr["type"].native == "signature_time_stamp_token":
            token: asn1_cms.ContentInfo = attr["values"][0]
            return token
    return None


def signature_tokens(data: bytes, *, max_bytes: int) -> list[SignatureToken]:
    """Every signature of the file, in signing order (runs in the process pool)."""
    ensure_off_loop("signature_tokens")
    reader = open_pdf(data, max_bytes=max_bytes)
    out: list[SignatureToken] = []
    try:
        for ix, sig in enumerate(reader.embedded_signatures, start=1):
            signer_info = sig.signer_info
            cert = sig.signer_cert
            token = _token(signer_info)
            ts_time = tsa = None
            if token is not None:
                tst = token["content"]["encap_content_info"]["content"].parsed
                if isinstance(tst, asn1_tsp.TSTInfo):
                    ts_time = tst["gen_time"].native
                    tsa_field = tst["tsa"]
                    tsa = tsa_field.chosen.human_friendly if tsa_field.native else None
                    if tsa is None:
                        certs = token["content"]["certificates"]
                        if certs.native:
                            tsa = certs[0].chosen.subject.human_friendly
            start, end = sig.byte_range[0], sig.byte_range[2] + sig.byte_range[3]
            digest = hashlib.sha256()
            r = sig.byte_range
            digest.update(data[r[0]:r[0] + r[1]])
            digest.update(data[r[2]:r[2] + r[3]])
            out.append(SignatureToken(
                index=ix,
                field_name=sig.field_name,
                signer_subject=cert.subject.human_friendly,
                signer_serial=format(cert.serial_number, "x"),
                signer_certificate_der=cert.dump(),
                signing_time=sig.self_reported_timestamp,
                signature_value=signer_info["signature"].native,
                token_der=token.dump() if token is not None else None,
                timestamp_time=ts_time,
                tsa_name=tsa,
                signed_range_sha256=digest.hexdigest(),
                covered_bytes=end - start,
            ))
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc
    return out
