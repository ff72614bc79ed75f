"""Odd PDFs for rejection tests: encrypted, hybrid-reference, truncated."""

from __future__ import annotations

import io
import zlib

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

