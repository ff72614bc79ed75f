"""Marks drawn on every page of a contract: the verification QR (防抽页) and the cross-page
seal slices (骑缝章). Pure functions (bytes in, bytes out), run in the process pool.

The QR codes are added at sending, in the incremental update before the signature fields
(core.contracts.send), so every signature covers them. The seal slices are page content
written into the enterprise's own signing revision, before its signature is computed
(`add_seal_slices` on the writer that `pdf.sign_document` then signs), so that signature
covers them too; no earlier signature may exist then (core.contracts.page_marks checks the
order at sending).
"""

from __future__ import annotations

import io
import zlib
from typing import Any

import qrcode
import qrcode.constants
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from core.errors import InvalidInput
from core.images import IMAGE_ERRORS
from core.signing.cjk_pdf import CjkFont
from core.signing.pdfinput import (
    DEFAULT_MAX_BYTES,
    PARSE_ERRORS,
    PdfInvalid,
    ensure_off_loop,
    media_box,
    open_for_update,
    page_count,
)

# The QR: a square in the bottom-right corner, inside the page's bottom margin.
QR_SIDE = 56.0
QR_MARGIN = 10.0
CAPTION_SIZE = 5.5
CAPTION_GAP = 2.0
# The seal across the right edge: its drawn diameter and the thinnest slice allowed.
SEAL_SIDE = 110.0
QR_BORDER = 2  # quiet zone, in modules
MAX_SEAL_BYTES = 2 * 1024 * 1024
MAX_SEAL_SIDE = 2000

_QR_IMAGE = "/LsPageQr"
_QR_FONT = "/LsPageQrF"
_SLICE = "/LsSealSlice"


def page_link(base_link: str, page: int) -> str:
    """The link of one page (1-based): the contract's page-verification URL plus ?p=."""
    return f"{base_link}?p={page}"


def caption(page: int, pages: int) -> str:
    return f"扫码核验 第{page}页/共{pages}页"


def qr_modules(data: str) -> list[list[bool]]:
    """The QR code of `data` as rows of dark (True) modules, quiet zone included."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M,
                         border=QR_BORDER)
    code.add_data(data)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def _bits(rows: list[list[bool]]) -> bytes:
    """1-bit DeviceGray rows (0 black, 1 white), each padded to a whole byte."""
    out = bytearray()
    for row in rows:
        byte, count = 0, 0
        for dark in row:
            byte = (byte << 1) | (0 if dark else 1)
            count += 1
            if count == 8:
                out.append(byte)
                byte, count = 0, 0
        if count:
            out.append((byte << (8 - count)) | ((1 << (8 - count)) - 1))
    return bytes(out)


def _image(writer: Any, width: int, height: int, colour: str, bits: int, data: bytes,
           smask: Any = None) -> Any:
    entries = {
        generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Image"),
        generic.pdf_name("/Width"): generic.NumberObject(width),
        generic.pdf_name("/Height"): generic.NumberObject(height),
        generic.pdf_name("/ColorSpace"): generic.pdf_name(colour),
        generic.pdf_name("/BitsPerComponent"): generic.NumberObject(bits),
        generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode"),
    }
    if smask is not None:
        entries[generic.pdf_name("/SMask")] = smask
    return writer.add_object(
        generic.StreamObject(generic.DictionaryObject(entries), encoded_data=zlib.compress(data))
    )


def _stream(writer: Any, ops: str) -> Any:
    stream = generic.StreamObject(stream_data=ops.encode("latin-1"))
    stream.compress()
    return writer.add_object(stream)


def _draw_on_top(writer: IncrementalPdfFileWriter, page: int, ops: str,
                 resources: generic.DictionaryObject) -> None:
    """Append `ops` above the page's content: the existing content is wrapped in q/Q so a
    transformation it leaves behind cannot move or scale the mark."""
    page_ref, _ = writer.find_page_for_modification(page)
    page_obj = page_ref.get_object()
    if "/Contents" not in page_obj:  # a blank page: no content of its own yet
        page_obj[generic.pdf_name("/Contents")] = writer.add_object(generic.ArrayObject())
        writer.mark_update(page_ref)
    writer.add_stream_to_page(page, _stream(writer, "q\n"), prepend=True)
    writer.add_stream_to_page(page, _stream(writer, "Q\n" + ops), resources=resources)


def _link(writer: IncrementalPdfFileWriter, page: int, rect: tuple[float, ...], url: str
          ) -> None:
    """A link over the QR, so the same page opens in a PDF viewer by a click."""
    annot = writer.add_object(generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Link"),
        generic.pdf_name("/Rect"): generic.ArrayObject(
            generic.FloatObject(round(v, 2)) for v in rect),
        generic.pdf_name("/Border"): generic.ArrayObject(
            [generic.NumberObject(0)] * 3),
        generic.pdf_name("/A"): generic.DictionaryObject({
            generic.pdf_name("/S"): generic.pdf_name("/URI"),
            generic.pdf_name("/URI"): generic.TextStringObject(url),
        }),
    }))
    page_ref, _ = writer.find_page_for_modification(page)
    page_obj = page_ref.get_object()
    annots = page_obj.get("/Annots")
    raw = page_obj.raw_get("/Annots") if "/Annots" in page_obj else None
    if isinstance(raw, generic.IndirectObject):
        annots.append(annot)
        writer.mark_update(raw)
    else:
        arr = generic.ArrayObject(list(annots) if annots is not None else [])
        arr.append(annot)
        page_obj[generic.pdf_name("/Annots")] = arr
        writer.mark_update(page_ref)


def add_page_qr(data: bytes, base_link: str, font_path: str, font_index: int,
                max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Stamp each page's verification QR and caption (one incremental update).

    `base_link`: the contract's page-verification URL; page n's QR encodes
    `page_link(base_link, n)`. The page count does not change.
    """
    ensure_off_loop("add_page_qr")
    writer = open_for_update(data, max_bytes=max_bytes)
    font = CjkFont(font_path, font_index)
    try:
        pages = page_count(writer.prev)
        captions = [caption(ix + 1, pages) for ix in range(pages)]
        encoded = [font.encode(text) for text in captions]
        widths = [font.width(text, CAPTION_SIZE) for text in captions]
        font_ref = font.embed(writer)  # type: ignore[arg-type]
        for ix in range(pages):
            box = media_box(writer.prev, ix)
            if box is None:
                raise PdfInvalid("无法读取 PDF 页面尺寸")
            x = box[2] - QR_MARGIN - QR_SIDE
            y = box[1] + QR_MARGIN + CAPTION_SIZE + CAPTION_GAP
            url = page_link(base_link, ix + 1)
            rows = qr_modules(url)
            image = _image(writer, len(rows[0]), len(rows), "/DeviceGray", 1, _bits(rows))
            cx = x + QR_SIDE - widths[ix]
            ops = (f"q {QR_SIDE:.2f} 0 0 {QR_SIDE:.2f} {x:.2f} {y:.2f} cm {_QR_IMAGE} Do Q\n"
                   f"BT 0.35 g {_QR_FONT} {CAPTION_SIZE:.2f} Tf {cx:.2f} "
                   f"{box[1] + QR_MARGIN:.2f} Td {encoded[ix]} Tj ET\n")
            resources = generic.DictionaryObject({
                generic.pdf_name("/XObject"): generic.DictionaryObject(
                    {generic.pdf_name(_QR_IMAGE): image}),
                generic.pdf_name("/Font"): generic.DictionaryObject(
                    {generic.pdf_name(_QR_FONT): font_ref}),
            })
            _draw_on_top(writer, ix, ops, resources)
            _link(writer, ix, (x, y, x + QR_SIDE, y + QR_SIDE), url)
        out = io.BytesIO()
        writer.write(out)
    except PdfInvalid:
        raise
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc
    finally:
        font.close()
    return out.getvalue()


def slice_bounds(width: int, pages: int) -> list[tuple[int, int]]:
    """[left, right) pixel columns of each page's slice of a `width`-pixel seal."""
    return [(width * i // pages, width * (i + 1) // pages) for i in range(pages)]


def add_seal_slices(writer: IncrementalPdfFileWriter, seal_png: bytes) -> None:
    """Draw slice i of the seal at the right edge of page i, at the same height on every
    page (vertically centred), into the writer's pending revision; the signature then
    made with this writer covers them. A one-page document gets the whole seal across
    its right edge."""
    ensure_off_loop("add_seal_slices")
    seal = _load_seal(seal_png)
    pages = page_count(writer.prev)
    columns = max(1, min(pages, seal.width))
    bounds = slice_bounds(seal.width, columns)
    for ix in range(pages):
        box = media_box(writer.prev, ix)
        if box is None:
            raise PdfInvalid("无法读取 PDF 页面尺寸")
        left, right = bounds[min(ix, columns - 1)]
        part = seal.crop((left, 0, right, seal.height))
        ref = _rgba_image(writer, part)
        width = SEAL_SIDE * (right - left) / seal.width
        height = SEAL_SIDE * seal.height / seal.width
        # A single page: half the seal inside the page, as on the edge of a stack.
        x = box[2] - width / 2 if pages == 1 else box[2] - width
        y = (box[1] + box[3]) / 2 - height / 2
        ops = f"q {width:.3f} 0 0 {height:.3f} {x:.3f} {y:.3f} cm {_SLICE} Do Q\n"
        _draw_on_top(writer, ix, ops, generic.DictionaryObject({
            generic.pdf_name("/XObject"): generic.DictionaryObject(
                {generic.pdf_name(_SLICE): ref}),
        }))


def _load_seal(png: bytes) -> Image.Image:
    """The seal image, bounded like every stamp (pdf.load_stamp_image's limits)."""
    if len(png) > MAX_SEAL_BYTES:
        raise InvalidInput("印章图片过大", code="stamp_too_large")
    try:
        img = Image.open(io.BytesIO(png))
        if img.format != "PNG" or max(img.size) > MAX_SEAL_SIDE:
            raise InvalidInput("印章图片无效", code="stamp_invalid")
        img.load()
    except IMAGE_ERRORS as exc:
        raise InvalidInput("印章图片无法读取", code="stamp_invalid") from exc
    return img.convert("RGBA")


def _rgba_image(writer: Any, img: Image.Image) -> Any:
    smask = _image(writer, img.width, img.height, "/DeviceGray", 8,
                   img.getchannel("A").tobytes())
    return _image(writer, img.width, img.height, "/DeviceRGB", 8,
                  img.convert("RGB").tobytes(), smask)
