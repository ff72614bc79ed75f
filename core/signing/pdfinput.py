"""Reading untrusted PDF bytes with pyHanko's strict reader, refusing what we cannot sign.

Every failure becomes a DomainError with a stable code; nothing from the parser escapes.
"""

from __future__ import annotations

import asyncio
import io

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.form_tools import enumerate_fields_in
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from core.errors import InvalidInput, PayloadTooLarge

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_PAGES = 500

# What the parser may raise on hostile input, beyond its own PdfError family.
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    misc.PdfError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    UnicodeError,
    AssertionError,
    NotImplementedError,
    EOFError,
)


class PdfInvalid(InvalidInput):
    code = "pdf_invalid"
    message = "文件不是有效的 PDF，或已损坏"


class PdfEncrypted(InvalidInput):
    code = "pdf_encrypted"
    message = "PDF 已加密或设有密码，请上传未加密的文件"


class PdfUnsupported(InvalidInput):
    code = "pdf_unsupported"
    message = "PDF 结构不受支持（例如混合交叉引用表），请另存为标准 PDF 后重试"


class PdfTooLarge(PayloadTooLarge):
    code = "pdf_too_large"
    message = "PDF 文件过大"


def ensure_off_loop(name: str) -> None:
    """pyHanko runs its own event loop: these functions belong in an executor, never inline."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{name} blocks and runs its own event loop: call it in an executor")


def check_size(data: bytes, max_bytes: int) -> None:
    if not isinstance(data, bytes | bytearray):
        raise PdfInvalid()
    if len(data) > max_bytes:
        raise PdfTooLarge(f"PDF 文件过大（上限 {max_bytes // (1024 * 1024)} MB）")
    if len(data) < 64 or b"%PDF-" not in data[:1024]:
        raise PdfInvalid()
    if b"%%EOF" not in data[-2048:]:
        # Truncated downloads lose the trailer first.
        raise PdfInvalid("PDF 文件不完整（可能在传输中被截断）", code="pdf_truncated")


def open_pdf(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> PdfFileReader:
    """A strict reader over `data`, after size, encryption and structure checks."""
    check_size(data, max_bytes)
    try:
        reader = PdfFileReader(io.BytesIO(bytes(data)), strict=True)
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc
    check_reader(reader)
    return reader


def open_for_update(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> IncrementalPdfFileWriter:
    """An incremental writer over `data` whose reader (`.prev`) passed the same checks."""
    check_size(data, max_bytes)
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(bytes(data)), strict=True)
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc
    check_reader(writer.prev)
    return writer


def check_reader(reader: PdfFileReader) -> None:
    """Refuse encrypted, hybrid-reference and structurally broken documents."""
    try:
        if reader.encrypted or "/Encrypt" in reader.trailer:
            raise PdfEncrypted()
        if reader.xrefs.hybrid_xrefs_present:
            raise PdfUnsupported()
        root = reader.root
        pages = root["/Pages"]
        count = int(pages["/Count"])
        if count < 1 or count > MAX_PAGES:
            raise PdfInvalid(f"PDF 页数必须在 1 到 {MAX_PAGES} 之间")
        # Resolve the last page: a broken page tree fails here, not halfway through signing.
        reader.find_page_for_modification(count - 1)
    except (PdfInvalid, PdfEncrypted, PdfUnsupported):
        raise
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc


# Field types a reader can fill in: text, buttons (check boxes, radio buttons), choices.
FILLABLE_FIELD_TYPES = ("/Tx", "/Btn", "/Ch")


def live_form_fields(reader: PdfFileReader) -> list[str]:
    """Names of the fields someone could still fill in (and "XFA" for an XFA form).

    A value filled in after signing changes what the contract says while every signature
    stays intact, so a contract must arrive without them (docs/security.md).
    """
    try:
        form = reader.root.get("/AcroForm")
        if not isinstance(form, generic.DictionaryObject):
            return []
        found = ["XFA"] if "/XFA" in form else []
        fields = form.get("/Fields")
        if fields is None:
            return found
        for kind in FILLABLE_FIELD_TYPES:
            for name, _, _ in enumerate_fields_in(
                fields, refs_seen=set(), target_field_type=kind
            ):
                found.append(str(name))
    except PARSE_ERRORS as exc:
        raise PdfInvalid() from exc
    return found


def page_count(reader: PdfFileReader) -> int:
    return int(reader.root["/Pages"]["/Count"])


def media_box(reader: PdfFileReader, page_ix: int) -> tuple[float, float, float, float] | None:
    """The page's MediaBox (inherited through the page tree), if it can be read."""
    try:
        page_ref, _ = reader.find_page_for_modification(page_ix)
        node = page_ref.get_object()
        while node is not None:
            if "/MediaBox" in node:
                x1, y1, x2, y2 = (float(v) for v in node["/MediaBox"])
                return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
            node = node.get("/Parent")
            node = node.get_object() if node is not None else None
    except PARSE_ERRORS:
        return None
    return None
