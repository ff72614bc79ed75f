"""Verification reports what happened to a signed PDF, and refuses junk clearly."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import InvalidInput, PayloadTooLarge
from core.signing import service
from core.signing.pdf import FieldSpec, prepare_document, sign_document
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from core.signing.timestamping import HttpTimeStamperSpec
from core.signing.verify import VerifyLimits, precheck, verify_pdf
from tests.core.signing import pdfs
from tests.core.signing.factories import enterprise_signer, person_signer
from tests.core.signing.pdfs import encrypted_pdf, with_changed_page_content


async def _anchors(deps):
    return await service.trust_anchors(deps)


async def _check(data: bytes, anchors, **kwargs):
    return await asyncio.to_thread(verify_pdf, data, anchors, **kwargs)


async def _signed(deps) -> bytes:
    doc = prepare_document(sample_contract_pdf(3), [FieldSpec("enterprise", 2, ENTERPRISE_BOX)])
    signer = await enterprise_signer(deps, doc)
    return await asyncio.to_thread(sign_document, doc, "enterprise", signer)


async def test_intact_signature_reports_signer_and_whole_coverage(deps) -> None:
    report = await _check(await _signed(deps), await _anchors(deps))
    (sig,) = report.signatures
    assert sig.intact and sig.trusted and sig.issued_by_us
    assert sig.signer_name == "杭州示例劳务科技有限公司"
    assert sig.covers_whole_document and sig.modification == "none"
    assert len(report.sha256) == 64


async def test_unknown_root_is_not_trusted(deps, tmp_path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from core.signing.local_ca import LocalCertificateAuthority
    from core.signing.verify import TrustAnchors

    stranger = LocalCertificateAuthority(tmp_path, b"s" * 32, key_algorithm="ecdsa-p256",
                                         base_url="http://elsewhere")
    anchors = TrustAnchors((stranger.root_certificate().public_bytes(Encoding.DER),))
    (sig,) = (await _check(await _signed(deps), anchors)).signatures
    assert sig.intact and not sig.trusted and not sig.issued_by_us


async def test_revocation_after_signing_shows_in_verification(deps) -> None:
    signed = await _signed(deps)
    cert = await service.active_certificate(deps, "enterprise", "ent-1")
    assert cert is not None
    await service.revoke_certificate(deps, cert.id, reason="key_compromise", actor_id="admin")
    (sig,) = (await _check(signed, await _anchors(deps))).signatures
    assert sig.revoked and not sig.valid


async def test_page_changed_after_signing_is_reported(deps) -> None:
    tampered = with_changed_page_content(await _signed(deps))
    (sig,) = (await _check(tampered, await _anchors(deps))).signatures
    assert sig.intact  # the signed revision itself is untouched...
    assert sig.modified_after_signing and sig.modification == "other"  # ...but not the file
    assert not sig.covers_whole_document and not sig.valid


async def test_unsigned_pdf_has_no_signatures(deps) -> None:
    report = await _check(sample_contract_pdf(1), await _anchors(deps))
    assert report.signatures == [] and not report.all_valid


@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG\r\n\x1a\n" + b"0" * 500, b"%PDF-1.4\n%%EOF", sample_contract_pdf(2)[:400]],
)
async def test_junk_gets_a_clear_error(deps, data: bytes) -> None:
    with pytest.raises(InvalidInput):
        await _check(data, await _anchors(deps))


async def test_encrypted_upload_gets_a_clear_error(deps) -> None:
    with pytest.raises(InvalidInput) as caught:
        await _check(encrypted_pdf(), await _anchors(deps))
    assert caught.value.code == "pdf_encrypted"


async def test_huge_upload_is_refused(deps) -> None:
    with pytest.raises(PayloadTooLarge):
        await _check(sample_contract_pdf(1), await _anchors(deps), max_bytes=500)


async def test_corrupted_signature_container_is_reported_not_raised(deps) -> None:
    signed = await _signed(deps)
    at = signed.index(b"/Contents <") + len(b"/Contents <")
    broken = signed[:at] + b"00" * 40 + signed[at + 80 :]
    report = await _check(broken, await _anchors(deps))
    (sig,) = report.signatures
    assert not sig.valid and (sig.error or not sig.intact)


# -- what "valid" means: nothing but later signatures after it, its own intact timestamp --


async def two_party(client, deps, pdf: bytes | None = None) -> bytes:
    """Both parties sign as the contract flow does: B-LT, timestamped by our TSA."""
    return await two_party_with(deps, str(client.make_url("/tsa")), pdf)


async def two_party_with(deps, tsa_url: str, pdf: bytes | None = None,
                         phone: str = "13800000001") -> bytes:
    tsa = HttpTimeStamperSpec(tsa_url)
    doc = prepare_document(pdf or sample_contract_pdf(3), [
        FieldSpec("enterprise", 2, ENTERPRISE_BOX), FieldSpec("employee", 2, EMPLOYEE_BOX)])
    validation = await service.validation_material(deps)
    ent = await enterprise_signer(deps, doc)
    first = await asyncio.to_thread(
        sign_document, doc, "enterprise", ent, timestamper=tsa, validation=validation)
    emp = await person_signer(deps, first, phone=phone)
    return await asyncio.to_thread(
        sign_document, first, "employee", emp, timestamper=tsa, validation=validation)


def rewrite_timestamp(signed: bytes, edit: str) -> bytes:
    """The last signature's CMS with its timestamp stripped, corrupted or borrowed."""
    editor = {
        "strip": pdfs.strip_timestamp,
        "corrupt": pdfs.corrupt_timestamp,
        "borrow": pdfs.borrow_timestamp(pdfs.timestamp_token(pdfs.signature_cms(signed, 0))),
    }[edit]
    return pdfs.with_rewritten_cms(signed, editor)


async def test_later_signature_into_a_prepared_field_keeps_the_first_valid(client, deps) -> None:
    report = await _check(await two_party(client, deps), await _anchors(deps))
    first, second = report.signatures
    assert first.modification == "signatures" and not first.modified_after_signing
    assert second.modification == "none"
    assert first.problems == second.problems == [] and report.all_valid


async def test_form_field_filled_after_signing_is_a_modification(client, deps) -> None:
    with_field = pdfs.with_text_field(sample_contract_pdf(3), "salary", "10000")
    signed = await two_party(client, deps, with_field)
    tampered = pdfs.with_text_field_filled(signed, "salary", "1")
    report = await _check(tampered, await _anchors(deps))
    assert not report.all_valid
    for sig in report.signatures:
        assert sig.intact and sig.modification == "form_filling"
        assert sig.changed_fields == ["salary"] and sig.problems == ["modified"]


async def test_an_appended_unused_object_is_a_modification(client, deps) -> None:
    tampered = pdfs.with_appended_object(await two_party(client, deps))
    report = await _check(tampered, await _anchors(deps))
    assert not report.all_valid
    assert all(s.intact and s.problems == ["modified"] for s in report.signatures)


async def test_signature_without_a_timestamp_is_not_valid(deps) -> None:
    (sig,) = (await _check(await _signed(deps), await _anchors(deps))).signatures
    assert sig.intact and sig.trusted and sig.modification == "none"
    assert not sig.valid
    assert not sig.timestamp_present and sig.problems == ["timestamp_missing"]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [("strip", "timestamp_missing"), ("corrupt", "timestamp_invalid"),
     ("borrow", "timestamp_foreign")],
)
async def test_rewritten_timestamp_is_not_valid(client, deps, edit: str, problem: str) -> None:
    tampered = rewrite_timestamp(await two_party(client, deps), edit)
    report = await _check(tampered, await _anchors(deps))
    assert not report.all_valid
    first, last = report.signatures
    assert first.valid  # the enterprise's own timestamp is untouched
    assert last.intact and last.trusted  # the CMS hole lies outside the signed bytes
    assert last.problems == [problem]


# -- bounded: counted before anything is parsed, stopped at a time budget ---------------


def with_empty_updates(pdf: bytes, count: int) -> bytes:
    """`count` incremental updates that change nothing: one more revision each."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    for _ in range(count):
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        writer.update_root()
        out = io.BytesIO()
        writer.write(out)
        pdf = out.getvalue()
    return pdf


def test_too_many_revisions_are_refused_before_parsing() -> None:
    data = with_empty_updates(sample_contract_pdf(1), 6)
    with pytest.raises(PayloadTooLarge) as caught:
        precheck(data, VerifyLimits(max_revisions=5))
    assert caught.value.code == "pdf_too_many_revisions"
    precheck(data, VerifyLimits(max_revisions=7))


async def test_too_many_signatures_are_refused(client, deps) -> None:
    signed = await two_party(client, deps)
    with pytest.raises(PayloadTooLarge) as caught:
        await _check(signed, await _anchors(deps), limits=VerifyLimits(max_signatures=1))
    assert caught.value.code == "pdf_too_many_signatures"


async def test_verification_stops_at_its_time_budget(deps) -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        await _check(await _signed(deps), await _anchors(deps),
                     limits=VerifyLimits(time_budget_seconds=0))
    assert caught.value.code == "verify_timeout"
