"""Odd PDFs for rejection tests: encrypted, hybrid-reference, truncated, with live form
fields; and tampered copies of signed ones (later form filling, rewritten CMS)."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from typing import Any

from asn1crypto import cms
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer

from core.signing.samples import sample_contract_pdf


def encrypted_pdf() -> bytes:
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(sample_contract_pdf(1))))
    writer.encrypt("owner-pass", "user-pass")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def hybrid_xref_pdf() -> bytes:
    """A classic xref table plus an /XRefStm stream hiding object 4 from old readers."""
    content = b"BT /F1 12 Tf 72 720 Td (hybrid) Tj ET"
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        4: b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    }
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num, body in objects.items():
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    entry = b"\x01" + offsets[4].to_bytes(4, "big") + b"\x00"
    data = zlib.compress(entry)
    offsets[5] = len(out)
    out += (
        b"5 0 obj\n<< /Type /XRef /Size 6 /W [1 4 1] /Index [4 1] /Filter /FlateDecode "
        b"/Length %d >>\nstream\n" % len(data) + data + b"\nendstream\nendobj\n"
    )
    xref_at = len(out)
    out += b"xref\n0 6\n0000000000 65535 f \n"
    for num in range(1, 6):
        if num == 4:
            out += b"0000000000 00001 f \n"
        else:
            out += b"%010d 00000 n \n" % offsets[num]
    out += b"trailer\n<< /Size 6 /Root 1 0 R /XRefStm %d >>\n" % offsets[5]
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def with_changed_page_content(pdf: bytes) -> bytes:
    """An incremental update that rewrites page 1's content stream."""
    from pyhanko.pdf_utils import generic

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 18 Tf 72 770 Td (PAY DOUBLED) Tj ET")
    page["/Contents"] = writer.add_object(stream)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()



def _signature_hole(pdf: bytes, index: int = -1) -> tuple[int, int]:
    """Offsets of the hex string in a signature's /Contents (outside its ByteRange)."""
    sig = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[index]
    _, start, end, _ = (int(v) for v in sig.byte_range)  # [0 a b c]: the hole is [a, b)
    return start + 1, end - 1  # inside the angle brackets


def signature_cms(pdf: bytes, index: int = -1) -> cms.ContentInfo:
    start, end = _signature_hole(pdf, index)
    return cms.ContentInfo.load(bytes.fromhex(pdf[start:end].decode()), strict=False)


def with_rewritten_cms(pdf: bytes, edit: Callable[[cms.ContentInfo], None]) -> bytes:
    """Edit the last signature's CMS in place, padded with zeros to the same length.

    The /Contents hole lies outside the signed byte range, so the signature over the
    document stays intact; only what the CMS carries besides it (unsigned attributes such
    as the signature timestamp) changes.
    """
    start, end = _signature_hole(pdf)
    info = cms.ContentInfo.load(bytes.fromhex(pdf[start:end].decode()), strict=False)
    edit(info)
    new_hex = info.dump(force=True).hex().encode()
    if len(new_hex) > end - start:
        raise ValueError("the edited CMS does not fit the reserved space")
    return pdf[:start] + new_hex.ljust(end - start, b"0") + pdf[end:]


def _signer_info(info: cms.ContentInfo) -> cms.SignerInfo:
    return info["content"]["signer_infos"][0]


def _without_timestamp(attrs: cms.CMSAttributes) -> list[cms.CMSAttribute]:
    return [a for a in attrs if a["type"].native != "signature_time_stamp_token"]


def strip_timestamp(info: cms.ContentInfo) -> None:
    si = _signer_info(info)
    kept = _without_timestamp(si["unsigned_attrs"])
    si["unsigned_attrs"] = cms.CMSAttributes(kept) if kept else None


def timestamp_token(info: cms.ContentInfo) -> cms.ContentInfo:
    for attr in _signer_info(info)["unsigned_attrs"]:
        if attr["type"].native == "signature_time_stamp_token":
            token: cms.ContentInfo = attr["values"][0]
            return token
    raise LookupError("no signature timestamp")


def corrupt_timestamp(info: cms.ContentInfo) -> None:
    """Flip one bit of the TSA's signature over the token."""
    token = cms.ContentInfo.load(timestamp_token(info).dump())
    tsa_info = token["content"]["signer_infos"][0]
    value = bytearray(tsa_info["signature"].native)
    value[len(value) // 2] ^= 0x01
    tsa_info["signature"] = bytes(value)
    _set_timestamp(info, token)


def borrow_timestamp(token: cms.ContentInfo) -> Callable[[cms.ContentInfo], None]:
    """Replace the signature's timestamp with another signature's token."""
    def edit(info: cms.ContentInfo) -> None:
        _set_timestamp(info, cms.ContentInfo.load(token.dump()))
    return edit


def _set_timestamp(info: cms.ContentInfo, token: cms.ContentInfo) -> None:
    si = _signer_info(info)
    kept = _without_timestamp(si["unsigned_attrs"])
    kept.append(cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [token]}))
    si["unsigned_attrs"] = cms.CMSAttributes(kept)


def _text_appearance(writer: Any, value: str, rect: tuple[float, float, float, float]) -> Any:
    from pyhanko.pdf_utils import generic

    width, height = rect[2] - rect[0], rect[3] - rect[1]
    font = generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Font"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
        generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
    })
    stream = generic.StreamObject(
        generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
            generic.pdf_name("/BBox"): generic.ArrayObject(
                [generic.FloatObject(0), generic.FloatObject(0),
                 generic.FloatObject(width), generic.FloatObject(height)]),
            generic.pdf_name("/Resources"): generic.DictionaryObject({
                generic.pdf_name("/Font"): generic.DictionaryObject(
                    {generic.pdf_name("/Helv"): font}),
            }),
        }),
        stream_data=b"/Tx BMC BT /Helv 12 Tf 2 6 Td (%s) Tj ET EMC" % value.encode(),
    )
    return writer.add_object(stream)


def with_text_field(pdf: bytes, name: str, value: str,
                    rect: tuple[float, float, float, float] = (300, 600, 450, 624)) -> bytes:
    """A copy of an unsigned PDF with a live text field (and its widget) on page 1."""
    from pyhanko.pdf_utils import generic

    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)))
    page_ref = writer.find_page_for_modification(0)[0]
    widget = generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Widget"),
        generic.pdf_name("/FT"): generic.pdf_name("/Tx"),
        generic.pdf_name("/T"): generic.TextStringObject(name),
        generic.pdf_name("/V"): generic.TextStringObject(value),
        generic.pdf_name("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
        generic.pdf_name("/F"): generic.NumberObject(4),
        generic.pdf_name("/P"): page_ref,
        generic.pdf_name("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in rect]),
    })
    widget[generic.pdf_name("/AP")] = generic.DictionaryObject(
        {generic.pdf_name("/N"): _text_appearance(writer, value, rect)})
    widget_ref = writer.add_object(widget)
    page = page_ref.get_object()
    page[generic.pdf_name("/Annots")] = generic.ArrayObject([widget_ref])
    writer.root[generic.pdf_name("/AcroForm")] = generic.DictionaryObject({
        generic.pdf_name("/Fields"): generic.ArrayObject([widget_ref]),
    })
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def with_text_field_filled(pdf: bytes, name: str, value: str) -> bytes:
    """An incremental update setting a text field's value and appearance (form filling)."""
    from pyhanko.pdf_utils import generic

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for ref in writer.root["/AcroForm"]["/Fields"]:
        widget = ref.get_object()
        if widget.get("/T") == name:
            rect = tuple(float(v) for v in widget["/Rect"])
            widget[generic.pdf_name("/V")] = generic.TextStringObject(value)
            widget[generic.pdf_name("/AP")] = generic.DictionaryObject(
                {generic.pdf_name("/N"): _text_appearance(writer, value, rect)})
            writer.update_container(widget)
            break
    else:
        raise LookupError(name)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def self_signed_many(pdf: bytes, count: int) -> bytes:
    """`count` incremental signatures by a throw-away self-signed key, each in a new field
    (the shape of a file built to make verification slow). Blocking: run it in a thread."""
    from datetime import UTC, datetime, timedelta

    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Anyone")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256()))
    signing_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    signer = signers.SimpleSigner(
        signing_cert=signing_cert,
        signing_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())),
        cert_registry=SimpleCertificateStore.from_certs([signing_cert]),
    )
    for ix in range(count):
        meta = signers.PdfSignatureMetadata(field_name=f"s{ix}")
        pdf = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer).getvalue()
    return pdf


def with_appended_object(pdf: bytes) -> bytes:
    """An incremental update adding an object that nothing refers to."""
    from pyhanko.pdf_utils import generic

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.add_object(generic.StreamObject(stream_data=b"BT (hidden payload) Tj ET"))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
