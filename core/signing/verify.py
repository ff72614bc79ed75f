"""Verifying signed PDFs: what a person uploading a contract is told, signature by signature.

A pure function over bytes (CPU-bound: callers run it in a process pool of its own,
core/cpu.py `run_verification`). Hostile input (garbage, encrypted, truncated, huge, broken
signatures) yields a DomainError or a report marking the signature as unreadable; no parser
exception escapes. The cost grows with revisions times signatures, so both are counted
(cheaply, `precheck`) before anything is validated, and the work stops at a time budget.

A signature is valid only when nothing but later signatures and their validation data
changed after it, and its own timestamp is present and intact (docs/security.md).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import crl as asn1_crl
from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffResult,
    ModificationLevel,
    StandardDiffPolicy,
)
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import EmbeddedPdfSignature, validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from core.errors import PayloadTooLarge
from core.signing.pdfinput import (
    DEFAULT_MAX_BYTES,
    PARSE_ERRORS,
    PdfInvalid,
    check_size,
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
# What may follow a signature that stays valid: later signatures into signature fields that
# were already there, empty, when it was made ("signatures"), and validation data (DSS,
# document timestamps). pyHanko rates a signature filling a field as form filling, the same
# level as a changed text field, so that level is split by which fields changed.
UNCHANGED = frozenset({"none", "validation_data", "signatures"})
# pyHanko's standard rules, except that objects appended without being used anywhere count
# as a change: nothing but signatures and validation data may follow a signature.
DIFF_POLICY = StandardDiffPolicy(
    global_rules=DEFAULT_DIFF_POLICY.global_rules,
    form_rule=DEFAULT_DIFF_POLICY.form_rule,
    ignore_orphaned_objects=False,
)
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


VERDICTS: tuple[tuple[str, frozenset[str]], ...] = (
    ("broken", frozenset({"signature_unreadable", "signature_unverifiable", "not_intact"})),
    ("modified", frozenset({"modified", "not_permitted"})),
    ("untrusted", frozenset({"revoked", "untrusted"})),
    ("timestamp", frozenset({"timestamp_missing", "timestamp_invalid", "timestamp_foreign"})),
)


@dataclass(frozen=True)
class VerifyLimits:
    """Bounds on one file, checked before the expensive validation (config [verify])."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_revisions: int = 32
    max_signatures: int = 20
    time_budget_seconds: float = 15.0


class TooComplex(PayloadTooLarge):
    code = "pdf_too_complex"
    message = "文件过于复杂，无法验证"


class VerifyTimeout(PayloadTooLarge):
    code = "verify_timeout"
    message = "文件验证超时，文件可能过于复杂"


def precheck(data: bytes, limits: VerifyLimits) -> None:
    """Refuse a file whose size, revisions or signatures exceed the limits, before parsing.

    Counting markers in the raw bytes costs milliseconds for the largest file: every
    revision ends with %%EOF, and every signature dictionary carries a /ByteRange in the
    clear (its /Contents hole is located by byte offset, so it cannot sit in a compressed
    object stream). The parsed counts are checked again in `verify_pdf`.
    """
    check_size(data, limits.max_bytes)
    _check_counts(data.count(b"%%EOF"), data.count(b"/ByteRange"), limits)


def _check_counts(revisions: int, signatures: int, limits: VerifyLimits) -> None:
    if revisions > limits.max_revisions:
        raise TooComplex(
            f"文件的修订次数过多（{revisions} 次，上限 {limits.max_revisions} 次），无法验证",
            code="pdf_too_many_revisions",
        )
    if signatures > limits.max_signatures:
        raise TooComplex(
            f"文件中的签名过多（{signatures} 个，上限 {limits.max_signatures} 个），无法验证",
            code="pdf_too_many_signatures",
        )


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
    # The signature carries a signature timestamp token (RFC 3161, unsigned attribute).
    timestamp_present: bool = False
    # Its message imprint is the hash of this signature's value (None: token unreadable).
    timestamp_own: bool | None = None
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
    # none | validation_data | signatures | form_filling | annotations | other
    modification: str | None = None
    modified_after_signing: bool = False
    # Form fields other than later signatures whose value or appearance changed.
    changed_fields: list[str] = field(default_factory=list)
    # Changes after signing stay within what the certification signature allows.
    modifications_permitted: bool | None = None
    error: str | None = None

    @property
    def problems(self) -> list[str]:
        """Why the signature is not valid, as stable codes; empty when it is valid."""
        if self.error is not None:
            return [self.error]
        found = []
        if not self.intact:
            found.append("not_intact")
        if self.modification not in UNCHANGED:
            found.append("modified")
        elif self.modifications_permitted is False:
            found.append("not_permitted")
        if self.revoked:
            found.append("revoked")
        elif not self.trusted:
            found.append("untrusted")
        if not self.timestamp_present:
            found.append("timestamp_missing")
        elif self.timestamp_own is False:
            found.append("timestamp_foreign")
        elif not (self.timestamp_own and self.timestamp_valid):
            found.append("timestamp_invalid")
        return found

    @property
    def valid(self) -> bool:
        return not self.problems


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

    @property
    def verdict(self) -> str:
        """The headline, worst first: unsigned | broken (a signature does not match the
        bytes it covers) | modified (changed after signing) | untrusted (certificate not
        trusted or revoked) | timestamp (missing, broken or not its own) | valid."""
        if not self.signed:
            return "unsigned"
        found = {p for s in self.signatures for p in s.problems}
        for verdict, codes in VERDICTS:
            if found & codes:
                return verdict
        return "valid"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for report, item in zip(self.signatures, data["signatures"], strict=True):
            item["valid"] = report.valid
            item["problems"] = report.problems
        data["signed"] = self.signed
        data["all_valid"] = self.all_valid
        data["verdict"] = self.verdict
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


def _timestamp_token(signer_info: asn1_cms.SignerInfo) -> asn1_cms.ContentInfo | None:
    attrs = signer_info["unsigned_attrs"]
    if not isinstance(attrs, asn1_cms.CMSAttributes):
        return None
    for attr in attrs:
        if attr["type"].native == "signature_time_stamp_token":
            token: asn1_cms.ContentInfo = attr["values"][0]
            return token
    return None


def _timestamp_is_own(token: asn1_cms.ContentInfo, signer_info: asn1_cms.SignerInfo
                      ) -> bool | None:
    """Whether the signature timestamp was made over this signature's value (RFC 3161 +
    CAdES: the imprint is the hash of the SignerInfo's signature); None if unreadable.

    pyHanko checks the same imprint but reports a mismatch only as a token that is not
    intact; checking it here keeps a borrowed token apart from a damaged one.
    """
    try:
        tst_info = token["content"]["encap_content_info"]["content"].parsed
        if not isinstance(tst_info, asn1_tsp.TSTInfo):
            return None
        imprint = tst_info["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        digest = hashes.Hash({"sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                              "sha512": hashes.SHA512()}[algorithm])
    except PARSE_ERRORS:
        return None
    digest.update(signer_info["signature"].native)
    return bool(digest.finalize() == imprint["hashed_message"].native)


def _later_signature_fields(reader: Any, sig: EmbeddedPdfSignature,
                            signed: list[EmbeddedPdfSignature]) -> set[str]:
    """Signature fields that were empty when `sig` was made and are signed later."""
    later = {str(e.field_name) for e in signed if e.signed_revision > sig.signed_revision}
    if not later:
        return set()
    try:
        then = reader.get_historical_resolver(sig.signed_revision)
        empty = {str(name) for name, _, _ in enumerate_sig_fields(then, filled_status=False)}
    except PARSE_ERRORS:
        return set()
    return later & empty


def _modification(status: Any, allowed_fields: set[str]) -> tuple[str, list[str]]:
    """(modification name, changed fields other than the allowed later signatures)."""
    level = status.modification_level
    if level is None:
        return "other", []
    name = MODIFICATION_NAMES.get(level, "other")
    diff = status.diff_result
    if level == ModificationLevel.FORM_FILLING and isinstance(diff, DiffResult):
        others = sorted(str(f) for f in diff.changed_form_fields - allowed_fields)
        # Nothing named at all would be a change we cannot attribute: not a signature.
        if not others and diff.changed_form_fields:
            return "signatures", []
        return name, others
    return name, []


def _report_one(
    embedded: EmbeddedPdfSignature,
    anchors: TrustAnchors,
    our_ids: set[bytes],
    allowed_fields: set[str],
) -> SignatureReport:
    report = SignatureReport(field_name=str(embedded.field_name))
    try:
        cert = embedded.signer_cert
        report.signer_name = _common_name(cert)
        report.subject = _name(cert.subject)
        report.serial = format(cert.serial_number, "x")
        report.issuer = _name(cert.issuer)
        report.issued_by_us = cert.authority_key_identifier in our_ids
        report.certification = embedded.docmdp_level is not None
        token = _timestamp_token(embedded.signer_info)
        report.timestamp_present = token is not None
        if token is not None:
            report.timestamp_own = _timestamp_is_own(token, embedded.signer_info)
    except PARSE_ERRORS:
        report.error = "signature_unreadable"
        return report
    try:
        status = validate_pdf_signature(
            embedded, _context(anchors), _context(anchors), diff_policy=DIFF_POLICY
        )
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
    report.modification, report.changed_fields = _modification(status, allowed_fields)
    report.modified_after_signing = report.modification not in UNCHANGED
    report.modifications_permitted = status.docmdp_ok
    return report


def verify_pdf(
    pdf_bytes: bytes,
    anchors: TrustAnchors,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limits: VerifyLimits | None = None,
) -> DocumentReport:
    """Check every signature in the PDF against `anchors`. Raises only DomainErrors."""
    ensure_off_loop("verify_pdf")
    limits = limits or VerifyLimits(max_bytes=max_bytes)
    deadline = time.monotonic() + limits.time_budget_seconds
    precheck(pdf_bytes, limits)
    reader = open_pdf(pdf_bytes, max_bytes=limits.max_bytes)
    report = DocumentReport(sha256=hashlib.sha256(pdf_bytes).hexdigest(), size=len(pdf_bytes))
    try:
        filled = list(enumerate_sig_fields(reader, filled_status=True))
        revisions = reader.xrefs.total_revisions
    except PARSE_ERRORS as exc:
        raise PdfInvalid("PDF 中的签名结构已损坏", code="pdf_signatures_broken") from exc
    _check_counts(revisions, len(filled), limits)
    embedded: list[EmbeddedPdfSignature] = []
    broken: list[SignatureReport] = []
    for name, _, field_ref in filled:
        # One unreadable signature must not hide the others: parse each on its own.
        try:
            embedded.append(EmbeddedPdfSignature(reader, field_ref, name))
        except PARSE_ERRORS:
            broken.append(SignatureReport(field_name=str(name), error="signature_unreadable"))
    our_ids = _our_key_ids(anchors)
    embedded.sort(key=lambda e: e.signed_revision)
    for sig in embedded:
        if time.monotonic() > deadline:
            raise VerifyTimeout()
        allowed = _later_signature_fields(reader, sig, embedded)
        report.signatures.append(_report_one(sig, anchors, our_ids, allowed))
    report.signatures.extend(broken)
    return report
