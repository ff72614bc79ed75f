"""A template's document: a PDF as uploaded, or a Word (.docx) file converted to PDF.

What a file is, is decided by its content: a zip is a Word document (whatever its name),
an OLE file (.doc) is refused, a PDF is a PDF (whatever its name); a file named .docx that
is neither is refused as not a Word document; anything else goes on as a PDF and meets the
PDF checks. A
Word document is checked before it reaches the converter: the size bound of PDF
templates, then a bounded zip (core/zipcheck.py: members, declared size, compression
ratio) that holds `[Content_Types].xml` and `word/document.xml`, no encrypted member and
no VBA project (a macro-enabled .docm renamed). The converter (the DocumentConverter port,
LibreOffice in core/adapters/docx_libreoffice.py) runs out of process with a time limit;
its PDF then goes through the same checks as an uploaded PDF (the caller's
`inspect_pdf`). Only the PDF is kept: it is the template's document of record; the .docx
is not stored.
"""

from __future__ import annotations

import asyncio

from core.context import Deps
from core.errors import InvalidInput, PayloadTooLarge, ProviderUnavailable, UnsupportedMedia
from core.files import MB
from core.ports import ConversionFailed, ConversionTimedOut, ConverterBusy, ConverterUnavailable
from core.zipcheck import MAGIC as ZIP_MAGIC
from core.zipcheck import NotAZip, ZipLimits, ZipTooLarge, open_bounded

# A contract of a few dozen pages with a logo is a few dozen parts and a few MB unpacked;
# pictures are stored already compressed.
LIMITS = ZipLimits(max_members=1000, max_uncompressed=100 * MB)
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
UNSUPPORTED = "本服务器暂不支持 Word 文件，请上传 PDF 文件（可在 Word 中“另存为 PDF”）"
_NOT_DOCX = "文件不是有效的 Word（.docx）文档，请在 Word 中另存为 .docx 或 PDF 后上传"


def available(deps: Deps) -> bool:
    """Whether Word templates are accepted here (pages say "PDF only" otherwise)."""
    return deps.converter is not None


def is_word(data: bytes, filename: str | None) -> bool:
    """A zip, an OLE file, or a file named .docx/.doc that is not a PDF (a PDF header in
    the first KB, where readers look for it): handled as a Word document."""
    if data.startswith(ZIP_MAGIC) or data.startswith(OLE_MAGIC):
        return True
    name = (filename or "").strip().lower()
    return name.endswith((".docx", ".doc")) and b"%PDF-" not in data[:1024]


def pdf_filename(filename: str | None) -> str:
    name = (filename or "").strip() or "template.docx"
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.pdf" if dot and stem and ext.lower() in ("docx", "doc") else f"{name}.pdf"


def check_docx(data: bytes) -> None:
    """Refuse anything but a bounded .docx package (reads the zip's directory only)."""
    if data.startswith(OLE_MAGIC):
        raise UnsupportedMedia("暂不支持旧版 .doc 文件，请在 Word 中另存为 .docx 或 PDF 后上传",
                               code="not_docx", field="file")
    try:
        zf, members = open_bounded(data, LIMITS)
    except NotAZip:
        raise UnsupportedMedia(_NOT_DOCX, code="not_docx", field="file") from None
    except ZipTooLarge:
        raise PayloadTooLarge("Word 文件解压后过大或压缩比异常，请另存为 PDF 后上传",
                              code="docx_too_large") from None
    zf.close()
    if "[Content_Types].xml" not in members or "word/document.xml" not in members:
        raise UnsupportedMedia(_NOT_DOCX, code="not_docx", field="file")
    if any(info.flag_bits & 0x1 for info in members.values()):
        raise UnsupportedMedia("Word 文件已加密，请取消密码后再上传", code="not_docx",
                               field="file")
    if any(name.lower().endswith("vbaproject.bin") for name in members):
        raise UnsupportedMedia("Word 文件含有宏，请另存为不含宏的 .docx 或 PDF 后上传",
                               code="docx_macros", field="file")


async def as_pdf(deps: Deps, data: bytes, filename: str | None
                 ) -> tuple[bytes, str | None, bool]:
    """The template's PDF for an upload, its file name, and whether it was converted."""
    limit = deps.config.signing.max_upload_bytes
    if not data:
        what = "PDF 或 Word（.docx）" if available(deps) else "PDF "
        raise InvalidInput(f"请选择要上传的 {what}文件", code="empty_upload", field="file")
    if not is_word(data, filename):
        return data, filename, False
    if len(data) > limit:
        raise PayloadTooLarge(f"Word 文件不能超过 {limit // MB} MB", code="docx_too_large")
    if deps.converter is None:
        raise UnsupportedMedia(UNSUPPORTED, code="docx_unsupported", field="file")
    await asyncio.to_thread(check_docx, bytes(data))
    try:
        pdf = await deps.converter.docx_to_pdf(bytes(data))
    except ConverterUnavailable:
        raise UnsupportedMedia(UNSUPPORTED, code="docx_unsupported", field="file") from None
    except ConverterBusy:
        raise ProviderUnavailable("正在转换其他 Word 文件，请稍后重试", code="docx_busy") from None
    except ConversionTimedOut:
        raise InvalidInput("Word 文件转换超时，请精简文档或另存为 PDF 后上传",
                           code="docx_timeout", field="file") from None
    except ConversionFailed:
        raise InvalidInput("Word 文件无法转换为 PDF，请检查文件或另存为 PDF 后上传",
                           code="docx_conversion_failed", field="file") from None
    if len(pdf) > limit:
        raise PayloadTooLarge(f"转换后的 PDF 超过 {limit // MB} MB，请精简文档后上传",
                              code="pdf_too_large")
    return pdf, pdf_filename(filename), True
