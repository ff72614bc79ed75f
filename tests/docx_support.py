"""A minimal, real .docx built by hand (WordprocessingML in a zip), for the upload tests."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

_OOXML = "http://schemas.openxmlformats.org"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<Types xmlns="{_OOXML}/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<Relationships xmlns="{_OOXML}/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_OOXML}/officeDocument/2006/relationships/'
    'officeDocument" Target="word/document.xml"/></Relationships>')

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _para(text: str, *, size_half_points: int = 24, bold: bool = False,
          page_break_before: bool = False) -> str:
    ppr = "<w:pPr><w:pageBreakBefore/></w:pPr>" if page_break_before else ""
    rpr = (f"<w:rPr>{'<w:b/>' if bold else ''}"
           f"<w:rFonts w:eastAsia=\"Noto Sans CJK SC\"/>"
           f"<w:sz w:val=\"{size_half_points}\"/><w:szCs w:val=\"{size_half_points}\"/></w:rPr>")
    return f"<w:p>{ppr}<w:r>{rpr}<w:t xml:space=\"preserve\">{escape(text)}</w:t></w:r></w:p>"


def make_docx(heading: str = "劳动合同", paragraphs: list[str] | None = None,
              pages: int = 1, extra: dict[str, bytes] | None = None) -> bytes:
    """A .docx with a bold heading, some paragraphs, and `pages` pages (hard page breaks)."""
    body = [_para(heading, size_half_points=44, bold=True)]
    body += [_para(p) for p in (paragraphs or ["甲方（用人单位）：", "乙方（劳动者）："])]
    body += [_para(f"第 {n + 1} 页", page_break_before=True) for n in range(1, pages)]
    document = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                f'<w:document xmlns:w="{_W}"><w:body>{"".join(body)}'
                '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/>'
                '<w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440"/>'
                '</w:sectPr></w:body></w:document>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("word/document.xml", document)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return out.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()
