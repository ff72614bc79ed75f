"""Page marks drawn into the PDF: the verification QR of each page and the seal slices."""

from __future__ import annotations

import io
import subprocess
import zlib

import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader

from core.signing.page_marks import (
    add_page_qr,
    add_seal_slices,
    page_link,
    qr_modules,
    slice_bounds,
)
from core.signing.pdf import FieldSpec, prepare_document
from core.signing.pdfinput import open_for_update
from core.signing.samples import ENTERPRISE_BOX, sample_contract_pdf
from core.signing.seals import round_seal

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
LINK = "https://sign.example.cn/verify/c/Zx3_a-9KqLmNoPqRsTuVwX"


def _qr(pages: int = 3) -> bytes:
    return add_page_qr(sample_contract_pdf(pages), LINK, FONT, 2)


def _xobject(reader: PdfFileReader, page: int, name: str):  # type: ignore[no-untyped-def]
    page_obj = reader.root["/Pages"]["/Kids"][page].get_object()
    return page_obj["/Resources"]["/XObject"][name]


def _modules(image) -> list[list[bool]]:  # type: ignore[no-untyped-def]
    """Read the 1-bit image back as rows of dark modules (what a scanner would see)."""
    width, height = int(image["/Width"]), int(image["/Height"])
    data = zlib.decompress(image.encoded_data)
    stride = (width + 7) // 8
    return [[not (data[r * stride + c // 8] >> (7 - c % 8)) & 1 for c in range(width)]
            for r in range(height)]


def test_each_page_carries_the_qr_of_its_own_link() -> None:
    reader = PdfFileReader(io.BytesIO(_qr(3)))
    assert int(reader.root["/Pages"]["/Count"]) == 3
    for page in range(3):
        url = page_link(LINK, page + 1)
        assert _modules(_xobject(reader, page, "/LsPageQr")) == qr_modules(url)
        links = [a.get_object() for a in
                 reader.root["/Pages"]["/Kids"][page].get_object()["/Annots"]]
        assert [str(a["/A"]["/URI"]) for a in links] == [url]


def test_qr_sits_in_the_bottom_right_corner_with_its_caption() -> None:
    reader = PdfFileReader(io.BytesIO(_qr(2)))
    page = reader.root["/Pages"]["/Kids"][1].get_object()
    x1, y1, x2, y2 = (float(v) for v in page["/Annots"][0].get_object()["/Rect"])
    assert (x2 - x1, y2 - y1) == (56.0, 56.0)
    assert 595 - 20 <= x2 <= 595 and y1 < 40  # A4: right and bottom margins


def test_caption_is_real_text(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "qr.pdf"
    path.write_bytes(_qr(3))
    text = subprocess.run(["pdftotext", "-f", "2", "-l", "2", str(path), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "扫码核验 第2页/共3页" in text


def test_qr_keeps_the_document_open_for_signature_fields() -> None:
    prepared = prepare_document(_qr(3), [FieldSpec("ent_1", 2, ENTERPRISE_BOX)])
    assert int(PdfFileReader(io.BytesIO(prepared)).root["/Pages"]["/Count"]) == 3


@pytest.mark.parametrize("pages", [1, 3, 7])
def test_seal_slices_split_the_seal_over_the_pages(pages: int) -> None:
    seal = round_seal("杭州示例劳务科技有限公司", font_path=FONT, font_index=2)
    writer = open_for_update(sample_contract_pdf(pages))
    add_seal_slices(writer, seal)
    out = io.BytesIO()
    writer.write(out)
    reader = PdfFileReader(io.BytesIO(out.getvalue()))
    width = Image.open(io.BytesIO(seal)).width
    widths = [int(_xobject(reader, page, "/LsSealSlice")["/Width"]) for page in range(pages)]
    assert widths == [right - left for left, right in slice_bounds(width, pages)]
    assert sum(widths) == width



def test_a_blank_page_without_content_gets_its_qr_too() -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    writer = PdfFileWriter()
    writer.insert_page(PageObject(
        contents=writer.add_object(generic.StreamObject(stream_data=b"")),
        media_box=(0, 0, 595, 842)))
    del writer.root["/Pages"]["/Kids"][0].get_object()["/Contents"]
    out = io.BytesIO()
    writer.write(out)
    reader = PdfFileReader(io.BytesIO(add_page_qr(out.getvalue(), LINK, FONT, 2)))
    assert _modules(_xobject(reader, 0, "/LsPageQr")) == qr_modules(page_link(LINK, 1))
