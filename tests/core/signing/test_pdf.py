"""Preparing fields and signing: what is accepted, what is refused and how."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import Conflict, DomainError, InvalidInput, NotFound, PayloadTooLarge
from core.signing import service
from core.signing.pdf import FieldSpec, SignOptions, prepare_document, sign_document
from core.signing.samples import EMPLOYEE_BOX, ENTERPRISE_BOX, sample_contract_pdf
from core.signing.seals import normalize_signature
from core.signing.verify import verify_pdf
from tests.core.signing.factories import enterprise_signer, person_signer
from tests.core.signing.pdfs import encrypted_pdf, hybrid_xref_pdf

FIELDS = [FieldSpec("enterprise", 2, ENTERPRISE_BOX), FieldSpec("employee", 2, EMPLOYEE_BOX)]


def _prepared() -> bytes:
    return prepare_document(sample_contract_pdf(3), FIELDS)


def _handwriting() -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (600, 300), "white")
    ImageDraw.Draw(img).line([(40, 250), (300, 40), (560, 250)], fill="black", width=10)
    out = io.BytesIO()
    img.save(out, "PNG")
    return normalize_signature(out.getvalue())


def test_prepare_adds_every_field_before_any_signature() -> None:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    reader = PdfFileReader(io.BytesIO(_prepared()))
    names = sorted(name for name, value, _ in enumerate_sig_fields(reader) if value is None)
    assert names == ["employee", "enterprise"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"hello, not a pdf at all" * 10, "pdf_invalid"),
        (sample_contract_pdf(1)[:-300], "pdf_truncated"),
        (b"%PDF-1.7\n" + b"\x00garbage" * 200 + b"\n%%EOF\n", "pdf_invalid"),
    ],
)
def test_prepare_rejects_broken_input(data: bytes, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        prepare_document(data, FIELDS)
    assert caught.value.code == code


def test_prepare_rejects_encrypted_pdf() -> None:
    with pytest.raises(InvalidInput) as caught:
        prepare_document(encrypted_pdf(), [FieldSpec("a", 0, (10, 10, 100, 100))])
    assert caught.value.code == "pdf_encrypted"


def test_prepare_rejects_hybrid_xref_pdf() -> None:
    with pytest.raises(InvalidInput) as caught:
        prepare_document(hybrid_xref_pdf(), [FieldSpec("a", 0, (10, 10, 100, 100))])
    assert caught.value.code == "pdf_unsupported"


def test_prepare_rejects_oversized_pdf() -> None:
    with pytest.raises(PayloadTooLarge):
        prepare_document(sample_contract_pdf(1), FIELDS, max_bytes=100)


@pytest.mark.parametrize(
    "spec",
    [
        FieldSpec("a", 7, (10, 10, 100, 100)),  # no such page
        FieldSpec("a", 0, (10, 10, 12, 12)),  # too small
        FieldSpec("a", 0, (500, 700, 700, 900)),  # off the page
        FieldSpec("bad name!", 0, (10, 10, 100, 100)),
    ],
)
def test_prepare_rejects_bad_boxes(spec: FieldSpec) -> None:
    with pytest.raises(InvalidInput) as caught:
        prepare_document(sample_contract_pdf(3), [spec])
    assert caught.value.field in {"page", "rect", "name"}


def test_prepare_rejects_duplicate_names() -> None:
    with pytest.raises(InvalidInput):
        prepare_document(sample_contract_pdf(3), [FIELDS[0], FIELDS[0]])


async def test_prepare_refuses_an_already_signed_pdf(deps) -> None:
    doc = _prepared()
    signer = await enterprise_signer(deps, doc)
    signed = await asyncio.to_thread(sign_document, doc, "enterprise", signer)
    with pytest.raises(Conflict) as caught:
        prepare_document(signed, [FieldSpec("late", 0, (10, 10, 100, 100))])
    assert caught.value.code == "document_already_signed"


async def test_signing_a_missing_field_is_refused(deps) -> None:
    doc = _prepared()
    signer = await enterprise_signer(deps, doc)
    with pytest.raises(NotFound):
        await asyncio.to_thread(sign_document, doc, "nope", signer)


async def test_a_field_is_signed_only_once(deps) -> None:
    doc = _prepared()
    signer = await enterprise_signer(deps, doc)
    signed = await asyncio.to_thread(sign_document, doc, "enterprise", signer)
    with pytest.raises(Conflict) as caught:
        await asyncio.to_thread(sign_document, signed, "enterprise", signer)
    assert caught.value.code == "signature_field_signed"


async def test_stamp_must_be_a_png(deps) -> None:
    doc = _prepared()
    signer = await enterprise_signer(deps, doc)
    with pytest.raises(InvalidInput) as caught:
        await asyncio.to_thread(
            sign_document, doc, "enterprise", signer, stamp_png=b"GIF89a not a png"
        )
    assert caught.value.code == "stamp_invalid"


async def test_visible_signatures_by_two_parties_both_verify(deps) -> None:
    doc = _prepared()
    ent = await enterprise_signer(deps, doc)
    first = await asyncio.to_thread(
        sign_document, doc, "enterprise", ent, options=SignOptions(certify=True)
    )
    emp = await person_signer(deps, first)
    second = await asyncio.to_thread(
        sign_document, first, "employee", emp, stamp_png=_handwriting()
    )
    report = await asyncio.to_thread(verify_pdf, second, await service.trust_anchors(deps))
    assert [s.field_name for s in report.signatures] == ["enterprise", "employee"]
    # Valid but for the timestamp these signatures were made without.
    assert all(s.problems == ["timestamp_missing"] for s in report.signatures)
    assert report.signatures[0].modification == "signatures"
    assert report.signatures[0].certification
    assert report.signatures[1].signer_name == "张三"


async def test_revoked_certificate_cannot_sign_with_validation_info(deps) -> None:
    doc = _prepared()
    ent = await enterprise_signer(deps, doc)
    cert = await service.active_certificate(deps, "enterprise", "ent-1")
    assert cert is not None
    await service.revoke_certificate(deps, cert.id, reason="cessation_of_operation",
                                     actor_id="admin")
    material = await service.validation_material(deps)
    with pytest.raises(DomainError) as caught:
        await asyncio.to_thread(
            sign_document, doc, "enterprise", ent, validation=material
        )
    assert caught.value.code == "certificate_revoked"
