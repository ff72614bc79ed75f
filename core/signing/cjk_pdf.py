"""A small text-PDF writer for Chinese documents: an embedded CJK font subset, real text.

Enough to generate a contract (headings, wrapped paragraphs, underlined filled-in blanks,
rules): the text can be selected, searched and extracted, and the file stays small
because only the glyphs used are embedded. The font is a CID-keyed OpenType/CFF face
such as Noto Serif/Sans CJK (the .ttc collections of fonts-noto-cjk, face by index).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any

from fontTools import subset
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

A4 = (595.0, 842.0)
# Never at the start of a line (GB/T 15834 line-breaking practice).
NO_LINE_START = set("，。、；：？！）》」』”’%,.;:)!?")


@dataclass(frozen=True)
class _Face:
    """Read-only facts of a face, kept per process: decoding the cmap and horizontal
    metrics of a 65,000-glyph CJK face costs ~0.5 s, on every filled contract otherwise."""

    cmap: dict[int, str]
    units: int
    metrics: dict[str, Any]
    name: str
    bbox: tuple[int, int, int, int]
    ascent: int
    descent: int


_FACES: dict[tuple[str, int, float], _Face] = {}
# Only the CFF program is embedded (FontFile3/CIDFontType0C, Identity-H, widths from the
# cached metrics), so the subsetter need not read or prune the face's other tables.
# Subset programs kept per process, by face and glyph set: the contracts of one batch all
# embed the batch's one subset (core.templates.batch), built once instead of per contract.
_SUBSETS: dict[tuple[str, int, float, frozenset[int]], tuple[bytes, tuple[str, str, int]]] = {}
MAX_SUBSETS = 8
_EMBED_DROPS = ["BASE", "GDEF", "GPOS", "GSUB", "VORG", "cmap", "vhea", "vmtx", "OS/2",
                "name", "post", "hmtx", "hhea"]


def _face(tt: TTFont, path: str, index: int) -> _Face:
    key = (path, index, os.stat(path).st_mtime)
    found = _FACES.get(key)
    if found is None:
        head, hhea = tt["head"], tt["hhea"]
        found = _Face(dict(tt.getBestCmap()), int(head.unitsPerEm), dict(tt["hmtx"].metrics),
                      str(tt["name"].getDebugName(6) or "CJK").replace(" ", ""),
                      (head.xMin, head.yMin, head.xMax, head.yMax), hhea.ascent,
                      hhea.descent)
        if len(_FACES) > 4:
            _FACES.clear()
        _FACES[key] = found
    return found


class CjkFont:
    """One face of a font collection: measures text, encodes it and embeds its subset."""

    def __init__(self, path: str, index: int) -> None:
        self.tt = TTFont(path, fontNumber=index, lazy=True)
        self.face_key = (path, index, os.stat(path).st_mtime)
        self.face = _face(self.tt, path, index)
        self.cmap, self.units, self.metrics = self.face.cmap, self.face.units, self.face.metrics
        self.name = self.face.name
        self.used: dict[int, tuple[str, str]] = {}  # cid -> (glyph name, character)

    def close(self) -> None:
        self.tt.close()

    def _glyph(self, char: str) -> str:
        return self.cmap.get(ord(char)) or ".notdef"

    def width(self, text: str, size: float) -> float:
        return sum(self.metrics[self._glyph(c)][0] for c in text) * size / self.units

    def encode(self, text: str) -> str:
        """The text as a hex string of CIDs (Identity-H), remembering the glyphs used."""
        codes = []
        for char in text:
            name = self._glyph(char)
            cid = int(name[3:]) if name.startswith("cid") else 0
            self.used.setdefault(cid, (name, char))
            codes.append(f"{cid:04x}")
        return "<" + "".join(codes) + ">"

    def embed(self, writer: PdfFileWriter, shared: str = "") -> generic.IndirectObject:
        """Subset the font to the glyphs used and add it as a Type0/CIDFontType0 font.

        `shared`: more characters to include (a batch's characters, all rows' values):
        every fill given the same `shared` text that covers its own text embeds the same
        glyph set, whose subset program this process builds once and then reuses."""
        for char in shared:
            self.encode(char)
        program, (registry, ordering, supplement) = self._subset_program()
        font_file = generic.StreamObject(
            {generic.pdf_name("/Subtype"): generic.pdf_name("/CIDFontType0C")},
            stream_data=program,
        )
        font_file.compress()
        scale = 1000 / self.units
        descriptor = generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/FontDescriptor"),
            generic.pdf_name("/FontName"): generic.pdf_name(f"/LSDEMO+{self.name}"),
            generic.pdf_name("/Flags"): generic.NumberObject(6),
            generic.pdf_name("/FontBBox"): generic.ArrayObject(
                generic.NumberObject(int(v * scale)) for v in self.face.bbox
            ),
            generic.pdf_name("/ItalicAngle"): generic.NumberObject(0),
            generic.pdf_name("/Ascent"): generic.NumberObject(int(self.face.ascent * scale)),
            generic.pdf_name("/Descent"): generic.NumberObject(int(self.face.descent * scale)),
            generic.pdf_name("/CapHeight"): generic.NumberObject(733),
            generic.pdf_name("/StemV"): generic.NumberObject(80),
            generic.pdf_name("/FontFile3"): writer.add_object(font_file),
        })
        widths = generic.ArrayObject()
        for cid in sorted(self.used):
            name, _ = self.used[cid]
            widths += [generic.NumberObject(cid), generic.ArrayObject(
                [generic.NumberObject(int(self.metrics[name][0] * scale))])]
        cid_font = generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Font"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/CIDFontType0"),
            generic.pdf_name("/BaseFont"): generic.pdf_name(f"/LSDEMO+{self.name}"),
            generic.pdf_name("/CIDSystemInfo"): generic.DictionaryObject({
                generic.pdf_name("/Registry"): generic.TextStringObject(registry),
                generic.pdf_name("/Ordering"): generic.TextStringObject(ordering),
                generic.pdf_name("/Supplement"): generic.NumberObject(supplement),
            }),
            generic.pdf_name("/FontDescriptor"): writer.add_object(descriptor),
            generic.pdf_name("/W"): widths,
        })
        to_unicode = generic.StreamObject(stream_data=self._to_unicode())
        to_unicode.compress()
        return writer.add_object(generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Font"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Type0"),
            generic.pdf_name("/BaseFont"): generic.pdf_name(f"/LSDEMO+{self.name}"),
            generic.pdf_name("/Encoding"): generic.pdf_name("/Identity-H"),
            generic.pdf_name("/DescendantFonts"): generic.ArrayObject(
                [writer.add_object(cid_font)]
            ),
            generic.pdf_name("/ToUnicode"): writer.add_object(to_unicode),
        }))

    def _subset_program(self) -> tuple[bytes, tuple[str, str, int]]:
        """The CFF program of the glyphs used and the face's ROS, from this process's
        cache when the same glyph set was subset before."""
        key = (self.face_key[0], self.face_key[1], self.face_key[2], frozenset(self.used))
        found = _SUBSETS.get(key)
        if found is not None:
            _SUBSETS[key] = _SUBSETS.pop(key)  # most recently used last
            return found
        options = subset.Options()
        options.layout_features = []
        options.notdef_outline = True
        options.name_IDs = ["*"]
        # (desubroutinize would be faster still, but fontTools then keeps memory per
        # call: a pool worker grew by ~3 MB per filled contract.)
        for tag in _EMBED_DROPS:
            if tag in self.tt:
                del self.tt[tag]
        subsetter = subset.Subsetter(options)
        subsetter.populate(glyphs=[name for name, _ in self.used.values()] + [".notdef"])
        subsetter.subset(self.tt)
        cff = self.tt["CFF "].cff
        registry, ordering, supplement = cff[0].ROS
        out = io.BytesIO()
        cff.compile(out, self.tt)
        found = (out.getvalue(), (str(registry), str(ordering), int(supplement)))
        while len(_SUBSETS) >= MAX_SUBSETS:
            del _SUBSETS[next(iter(_SUBSETS))]
        _SUBSETS[key] = found
        return found

    def _to_unicode(self) -> bytes:
        """The CMap that maps CIDs back to text (copy, search, pdftotext)."""
        pairs = sorted((cid, char) for cid, (_, char) in self.used.items())
        blocks = []
        for start in range(0, len(pairs), 100):
            chunk = pairs[start:start + 100]
            lines = [f"<{cid:04x}> <{char.encode('utf-16-be').hex()}>" for cid, char in chunk]
            blocks.append(f"{len(chunk)} beginbfchar\n" + "\n".join(lines) + "\nendbfchar")
        return (
            "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
            + "\n".join(blocks)
            + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
        ).encode("ascii")


@dataclass
class Page:
    """Drawing operations of one page, in points from the bottom left."""

    ops: list[str] = field(default_factory=list)

    def text(self, font_key: str, font: CjkFont, size: float, x: float, y: float,
             text: str, gray: float = 0.0) -> None:
        self.ops.append(f"BT {gray:.2f} g /{font_key} {size:.2f} Tf {x:.2f} {y:.2f} Td "
                        f"{font.encode(text)} Tj ET")

    def line(self, x1: float, y1: float, x2: float, y2: float, width: float = 0.5,
             gray: float = 0.0) -> None:
        self.ops.append(f"{gray:.2f} G {width:.2f} w {x1:.2f} {y1:.2f} m {x2:.2f} {y2:.2f} l S")


def wrap(font: CjkFont, size: float, text: str, width: float) -> list[str]:
    """Break Chinese text into lines of at most `width` points, character by character;
    closing punctuation stays at the end of the line before. The line's width is kept
    as it grows (measuring the whole line again for each character made a report's
    layout quadratic in its line length)."""
    lines: list[str] = []
    current, used = "", 0.0
    for char in text:
        advance = font.width(char, size)
        if current and used + advance > width and char not in NO_LINE_START:
            lines.append(current)
            current, used = "", 0.0
        current += char
        used += advance
    if current:
        lines.append(current)
    return lines


def write_pdf(pages: list[Page], fonts: dict[str, CjkFont], title: str) -> bytes:
    writer = PdfFileWriter()
    resources = generic.DictionaryObject({
        generic.pdf_name("/Font"): generic.DictionaryObject(
            {generic.pdf_name(f"/{key}"): font.embed(writer) for key, font in fonts.items()}
        )
    })
    for page in pages:
        stream = generic.StreamObject(stream_data="\n".join(page.ops).encode("ascii"))
        stream.compress()
        writer.insert_page(PageObject(
            contents=writer.add_object(stream),
            media_box=generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, *A4)]),
            resources=resources,
        ))
    writer.set_info(generic.DictionaryObject(
        {generic.pdf_name("/Title"): generic.TextStringObject(title)}
    ))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
