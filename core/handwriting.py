"""Clean up a handwritten signature drawn on a phone: a pure function for the process pool.

The pad sends a PNG of the whole canvas. We keep only the ink: near-white pixels become
transparent, the image is cropped to the strokes with a small margin and scaled down to
a bounded size, so every stamp is small and looks the same in every contract.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4000
OUT_MAX = (600, 300)
MARGIN = 8
MIN_INK_PIXELS = 40


class HandwritingError(ValueError):
    """The upload is not a usable signature; `code` and the Chinese message say why."""

    def __str__(self) -> str:
        return self.message

    def __init__(self, code: str, message: str) -> None:
        # Both in args: the exception crosses the process pool and must unpickle whole.
        super().__init__(code, message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CleanSignature:
    png: bytes
    width: int
    height: int


def normalize_handwriting(data: bytes) -> CleanSignature:
    if len(data) > MAX_UPLOAD_BYTES:
        raise HandwritingError("signature_too_large", "签名图片过大")
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise HandwritingError("signature_not_png", "签名须为 PNG 图片")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width > MAX_SIDE or probe.height > MAX_SIDE:
                raise HandwritingError("signature_too_large", "签名图片尺寸过大")
            image = probe.convert("RGBA")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise HandwritingError("signature_not_png", "签名图片无法识别") from exc

    # Ink = visible and darker than paper. Everything else becomes transparent.
    gray = image.convert("L")
    alpha = image.getchannel("A")
    ink = Image.eval(gray, lambda v: 255 if v < 200 else 0)
    visible = alpha.point(lambda a: 255 if a > 32 else 0)
    ink = Image.composite(ink, Image.new("L", ink.size, 0), visible)
    box = ink.getbbox()
    if box is None or ink.histogram()[255] < MIN_INK_PIXELS:
        raise HandwritingError("signature_empty", "签名内容为空，请重新书写")

    left, top, right, bottom = box
    box = (
        max(0, left - MARGIN), max(0, top - MARGIN),
        min(image.width, right + MARGIN), min(image.height, bottom + MARGIN),
    )
    strokes = gray.crop(box)
    mask = ink.crop(box)
    # Strokes in near-black, with the drawn stroke's shape as the alpha channel.
    out = Image.new("RGBA", strokes.size, (20, 20, 20, 0))
    out.putalpha(mask)
    out.thumbnail(OUT_MAX, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    out.save(buf, "PNG", optimize=True)
    return CleanSignature(buf.getvalue(), out.width, out.height)
