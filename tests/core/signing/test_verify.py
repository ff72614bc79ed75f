"""Verification reports what happened to a signed PDF, and refuses junk clearly."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import InvalidInput, PayloadTooLarge
from core.signing import service
from core.signing.pdf import FieldSpec, prepare_document, sign_document
from core.signing.samples import ENTERPRISE_BOX, sample_contract_pdf
from core.signing.verify import verify_pdf
from tests.core.signing.factories import enterprise_signer
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
