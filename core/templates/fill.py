"""Writing field values onto a PDF's pages (pure: bytes in, bytes out; runs off the loop).

The values are drawn as real text in an embedded CJK font subset (core.signing.cjk_pdf),
in one incremental update that adds a content stream to the pages concerned. Pages are
never added or removed, so the page count and every page's size stay as they were; the
original page content is wrapped in q/Q so a value lands where it was placed whatever
graphics state the page leaves behind.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass

from pyhanko.pdf_utils import generic

from core.signing.cjk_pdf import CjkFont
from core.signing.pdfinput import PARSE_ERRORS, PdfInvalid, media_box, open_for_update, page_count

FONT_PREFIX = "LSFill"
MIN_SIZE = 6.0


@dataclass(frozen=True)
class Stamp:
    """One value at one place: 0-based page, rectangle in points (origin bottom left of the
    page's media box), font size; `check` draws a tick instead of text."""

    page: int
    rect: tuple[float, float, float, float]
    text: str
    size: float
    check: bool = False


def _fit(font: CjkFont, text: str, size: float, width: float) -> tuple[str, float]:
    """Shrink to fit the box's width down to MIN_SIZE, then cut the text."""
    while size > MIN_SIZE and font.width(text, size) > width:
        size = max(MIN_SIZE, size - 0.5)
    while text and font.width(text, size) > width:
        text = text[:-1]
    return text, size


def _tick(rect: tuple[float, float, float, float]) -> str:
    x1, y1, x2, y2 = rect
    s = min(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a = (cx - 0.35 * s, cy)
    b = (cx - 0.1 * s, cy - 0.3 * s)
    c = (cx + 0.38 * s, cy + 0.32 * s)
    return (f"q 0 G {max(s * 0.12, 0.8):.2f} w 1 J 1 j {a[0]:.2f} {a[1]:.2f} m "
            f"{b[0]:.2f} {b[1]:.2f} l {c[0]:.2f} {c[1]:.2f} l S Q")


def fill_pdf(data: bytes, stamps: list[Stamp], *, font_path: str, font_index: int,
             max_bytes: int, shared: str = "") -> bytes:
    """The PDF with each stamp drawn; the same bytes when there is nothing to draw.

    `shared`: characters the embedded font subset also holds (a batch's characters, see
    core.templates.batch): fills with the same `shared` text embed the same subset, which
    a process builds once (core.signing.cjk_pdf)."""
    stamps = [s for s in stamps if s.text or s.check]
    if not stamps:
        return data
    try:
        writer = open_for_update(data, max_bytes=max_bytes)
        reader = writer.prev
        pages = page_count(reader)
        # Each filling adds its own font subset under a new name: a later filling (the
        # employee's) must not collide with an earlier one's resource.
        font_key = f"{FONT_PREFIX}{secrets.token_hex(4)}"
        font = CjkFont(font_path, font_index)
        try:
            ops: dict[int, list[str]] = {}
            for s in stamps:
                if not 0 <= s.page < pages:
                    raise PdfInvalid("字段所在页码超出范围", code="page_out_of_range")
                box = media_box(reader, s.page) or (0.0, 0.0, 0.0, 0.0)
                x1, y1, x2, y2 = (s.rect[0] + box[0], s.rect[1] + box[1],
                                  s.rect[2] + box[0], s.rect[3] + box[1])
                if s.check:
                    ops.setdefault(s.page, []).append(_tick((x1, y1, x2, y2)))
                    continue
                text, size = _fit(font, s.text, min(s.size, max(y2 - y1, MIN_SIZE)),
                                  x2 - x1 - 2)
                if not text:
                    continue
                # Vertically centred on the box: the face's middle is ~0.38 em above the
                # baseline.
                baseline = (y1 + y2) / 2 - size * 0.38
                ops.setdefault(s.page, []).append(
                    f"BT 0 g /{font_key} {size:.2f} Tf {x1 + 1:.2f} {baseline:.2f} Td "
                    f"{font.encode(text)} Tj ET"
                )
            if not ops:
                return data
            font_ref = font.embed(writer, shared)  # type: ignore[arg-type]
        finally:
            font.close()
        resources = generic.DictionaryObject({
            generic.pdf_name("/Font"): generic.DictionaryObject(
                {generic.pdf_name(f"/{font_key}"): font_ref})
        })
        for page, page_ops in sorted(ops.items()):
            before = generic.StreamObject(stream_data=b"q\n")
            writer.add_stream_to_page(page, writer.add_object(before), prepend=True)
            after = generic.StreamObject(
                stream_data=("Q\n" + "\n".join(page_ops) + "\n").encode("ascii"))
            after.compress()
            writer.add_stream_to_page(page, writer.add_object(after), resources=resources)
        out = io.BytesIO()
        writer.write(out)
    except PdfInvalid:
        raise
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc
    return out.getvalue()


def pdf_text(data: bytes, max_pages: int = 200) -> str:
    """The text of every page (pdfium), for the labour-law check."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise PdfInvalid() from exc
    try:
        parts = []
        for ix in range(min(len(pdf), max_pages)):
            page = pdf[ix]
            textpage = page.get_textpage()
            parts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return "\n".join(parts)
    finally:
        pdf.close()
