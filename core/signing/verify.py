"""Verifying signed PDFs: what a person uploading a contract is told, signature by signature.

A pure function over bytes (CPU-bound: callers run it in a process pool). Hostile input
(garbage, encrypted, truncated, huge, broken signatures) yields a DomainError or a report
marking the signature as unreadable; no parser exception escapes.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import EmbeddedPdfSignature, validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from core.signing.pdfinput import (
    DEFAULT_MAX_BYTES,
    PARSE_ERRORS,
    PdfInvalid,
    ensure_off_loop,
    open_pdf,
)

MODIFICATION_NAMES = {
    ModificationLevel.NONE: "none",
    ModificationLevel.LTA_UPDATES: "validation_data",
    ModificationLevel.FORM_FILLING: "form_filling",
    ModificationLevel.ANNOTATIONS: "annotations",
    ModificationLevel.OTHER: "other",
}
COVERAGE_NAMES = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "partial",
    SignatureCoverageLevel.UNCLEAR: "unclear",
}


@dataclass(frozen=True)
class TrustAnchors:
    """Our root(s) and issuing CA(s), plus current CRLs so later revocations show."""

    roots_der: tuple[bytes, ...]
    intermediates_der: tuple[bytes, ...] = ()
    crls_der: tuple[bytes, ...] = ()


@dataclass
class SignatureReport:
    field_name: str
    signer_name: str | None = None
    subject: str | None = None
    serial: str | None = None
    issuer: str | None = None
    signing_time: datetime | None = None
    timestamp_time: datetime | None = None
    timestamp_authority: str | None = None
    timestamp_valid: bool | None = None
    # The signed bytes hash to what the signer signed, and the signature verifies.
    intact: bool = False
    # Certificate chain leads to one of the trust anchors and is not revoked.
    trusted: bool = False
    revoked: bool = False
    revoked_at: datetime | None = None
    issued_by_us: bool = False
    certification: bool = False
    # entire_file | entire_revision | partial | unclear
    coverage: str = "unclear"
    covers_whole_document: bool = False
    # none | validation_data | form_filling | annotations | other
    modification: str | None = None
    modified_after_signing: bool = False
    # Changes after signing stay within what the certification signature allows.
    modifications_permitted: bool | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return (
            self.error is None
            and self.intact
            and self.trusted
            and not self.revoked
            and self.modification in {"none", "validation_data", "form_filling"}
            and self.modifications_permitted is not False
        )


@dataclass
class DocumentReport:
    sha256: str
    size: int
    signatures: list[SignatureReport] = field(default_factory=list)

    @property
    def signed(self) -> bool:
        return bool(self.signatures)

    @property
    def all_valid(self) -> bool:
        return self.signed and all(s.valid for s in self.signatures)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for report, item in zip(self.signatures, data["signatures"], strict=True):
            item["valid"] = report.valid
        data["signed"] = self.signed
        data["all_valid"] = self.all_valid
        return data


def _context(anchors: TrustAnchors) -> ValidationContext:
    return ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(c) for c in anchors.roots_der],
        other_certs=[asn1_x509.Certificate.load(c) for c in anchors.intermediates_der],
        crls=[asn1_crl.CertificateList.load(c) for c in anchors.crls_der],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )


def _name(name: asn1_x509.Name) -> str:
    return name.human_friendly


def _common_name(cert: asn1_x509.Certificate) -> str | None:
    value = cert.subject.native.get("common_name")
    return value if isinstance(value, str) else None


def _our_key_ids(anchors: TrustAnchors) -> set[bytes]:
    ids = set()
    for der in anchors.roots_der + anchors.intermediates_der:
        cert = asn1_x509.Certificate.load(der)
        if cert.key_identifier:
            ids.add(cert.key_identifier)
    return ids


def _report_one(embedded: Any, anchors: TrustAnchors, our_ids: set[bytes]) -> SignatureReport:
    report = SignatureReport(field_name=str(embedded.field_name))
    try:
        cert = embedded.signer_cert
        report.signer_name = _common_name(cert)
        report.subject = _name(cert.subject)
        report.serial = format(cert.serial_number, "x")
        report.issuer = _name(cert.issuer)
        report.issued_by_us = cert.authority_key_identifier in our_ids
        report.certification = embedded.docmdp_level is not None
    except PARSE_ERRORS:
        report.error = "signature_unreadable"
        return report
    try:
        status = validate_pdf_signature(embedded, _context(anchors), _context(anchors))
    except Exception:  # hostile CMS can break the validator anywhere; report, don't raise
        report.error = "signature_unverifiable"
        return report
    report.intact = bool(status.intact and status.valid)
    report.trusted = bool(status.trusted)
    report.signing_time = status.signer_reported_dt
    if status.revocation_details is not None:
        report.revoked = True
        report.revoked_at = status.revocation_details.revocation_date
        report.trusted = False
    ts = status.timestamp_validity
    if ts is not None:
        report.timestamp_time = ts.timestamp
        report.timestamp_authority = _common_name(ts.signing_cert)
        report.timestamp_valid = bool(ts.intact and ts.valid and ts.trusted)
    coverage = status.coverage
    report.coverage = COVERAGE_NAMES.get(coverage, "unclear") if coverage else "unclear"
    report.covers_whole_document = coverage == SignatureCoverageLevel.ENTIRE_FILE
    level = status.modification_level
    report.modification = MODIFICATION_NAMES.get(level) if level is not None else "other"
    report.modified_after_signing = report.modification not in {"none", "validation_data"}
    report.modifications_permitted = status.docmdp_ok
    return report


def verify_pdf(
    pdf_bytes: bytes, anchors: TrustAnchors, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> DocumentReport:
    """Check every signature in the PDF against `anchors`. Raises only DomainErrors."""
    ensure_off_loop("verify_pdf")
    reader = open_pdf(pdf_bytes, max_bytes=max_bytes)
    report = DocumentReport(sha256=hashlib.sha256(pdf_bytes).hexdigest(), size=len(pdf_bytes))
    try:
        filled = list(enumerate_sig_fields(reader, filled_status=True))
    except PARSE_ERRORS as exc:
        raise PdfInvalid("PDF 中的签名结构已损坏", code="pdf_signatures_broken") from exc
    embedded: list[EmbeddedPdfSignature] = []
    broken: list[SignatureReport] = []
    for name, _, field_ref in filled:
        # One unreadable signature must not hide the others: parse each on its own.
        try:
            embedded.append(EmbeddedPdfSignature(reader, field_ref, name))
        except PARSE_ERRORS:
            broken.append(SignatureReport(field_name=str(name), error="signature_unreadable"))
    our_ids = _our_key_ids(anchors)
    for sig in sorted(embedded, key=lambda e: e.signed_revision):
        report.signatures.append(_report_one(sig, anchors, our_ids))
    report.signatures.extend(broken)
    return report
