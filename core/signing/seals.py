"""Seal and signature images: transparent PNGs drawn with Pillow and a CJK font.

Pure functions (arguments in, PNG bytes out) so callers can run them in a process pool.
The images become the visible appearance of a signature (see pdf.stamp_style).
"""

from __future__ import annotations

import io
import math
from datetime import date
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from core.errors import InvalidInput, ProviderUnavailable
from core.images import IMAGE_ERRORS

SEAL_RED = (225, 20, 25, 255)
INK = (20, 20, 30)
SEAL_KINDS = {"official": "", "contract": "合同专用章"}
MAX_NAME_CHARS = 40

MAX_SIGNATURE_BYTES = 2 * 1024 * 1024
MAX_SIGNATURE_SIDE = 4000
SIGNATURE_BOX = (800, 400)
MIN_INK_PIXELS = 30


class FontMissing(ProviderUnavailable):
    code = "font_missing"
    message = "印章字体未安装，请联系管理员"


@lru_cache(maxsize=64)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    if not Path(path).is_file():
        raise FontMissing(f"印章字体不存在：{path}（请安装 fonts-noto-cjk 或设置 font_path）")
    try:
        return ImageFont.truetype(path, size, index=index)
    except OSError as exc:
        raise FontMissing(f"印章字体无法加载：{path}") from exc


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _clean_name(name: str, *, limit: int = MAX_NAME_CHARS) -> str:
    name = "".join(name.split())
    if not name or len(name) > limit or not name.isprintable():
        raise InvalidInput("印章文字为空或过长", code="seal_text_invalid")
    return name


def _glyph(char: str, font: ImageFont.FreeTypeFont, color: tuple[int, ...]) -> Image.Image:
    """One character on its own transparent tile, cropped to its ink box."""
    left, top, right, bottom = font.getbbox(char)
    tile = Image.new("RGBA", (int(right - left) + 4, int(bottom - top) + 4), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((2 - left, 2 - top), char, font=font, fill=color)
    return tile


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: tuple) -> None:
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.382
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    draw.polygon(points, fill=fill)


def round_seal(
    enterprise_name: str,
    kind: str = "official",
    *,
    font_path: str,
    font_index: int = 2,
    size: int = 420,
    label: str | None = None,
) -> bytes:
    """Round enterprise seal: name on the upper arc, a star, the kind text below.

    kind: official (公章) | contract (合同专用章); `label` replaces the text below the
    star (a custom seal's own name, e.g. 人事专用章).
    """
    if kind not in SEAL_KINDS:
        raise InvalidInput("不支持的印章类型", code="seal_kind_invalid")
    name = _clean_name(enterprise_name)
    scale = 4  # supersample, then shrink: smooth edges without an antialiasing pass
    big = size * scale
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    c = big / 2
    ring = big * 0.035
    draw.ellipse((ring / 2, ring / 2, big - ring / 2, big - ring / 2), outline=SEAL_RED,
                 width=int(ring))
    _star(draw, c, c, big * 0.15, SEAL_RED)

    # Name along the upper arc, clockwise from lower left to lower right, each glyph
    # rotated to face the centre. Long names get a wider arc and smaller glyphs.
    span = math.radians(min(250.0, 150.0 + 8.0 * len(name)))
    glyph_size = int(min(big * 0.13, (span * big * 0.36) / max(len(name), 1) * 0.92))
    font = _font(font_path, font_index, glyph_size)
    radius = big / 2 - ring * 2.2 - glyph_size * 0.55
    for i, char in enumerate(name):
        t = 0.5 if len(name) == 1 else i / (len(name) - 1)
        angle = -math.pi / 2 - span / 2 + t * span  # 0 rad = pointing right
        tile = _glyph(char, font, SEAL_RED)
        tile = tile.rotate(-math.degrees(angle + math.pi / 2), resample=Image.Resampling.BICUBIC,
                           expand=True)
        x = c + radius * math.cos(angle) - tile.width / 2
        y = c + radius * math.sin(angle) - tile.height / 2
        img.alpha_composite(tile, (int(x), int(y)))

    label = _clean_name(label, limit=12) if label else SEAL_KINDS[kind]
    if label:
        label_font = _font(font_path, font_index, int(big * 0.085))
        left, top, right, _ = label_font.getbbox(label)
        draw.text((c - (right - left) / 2 - left, c + big * 0.22 - top), label,
                  font=label_font, fill=SEAL_RED)
    return _png(img.resize((size, size), Image.Resampling.LANCZOS))


def _square_seal(chars: list[str], *, font_path: str, font_index: int, size: int) -> bytes:
    """Characters in a grid read right-to-left by columns, inside a square border."""
    cols = 2 if len(chars) > 1 else 1
    rows = math.ceil(len(chars) / cols)
    scale = 4
    big = size * scale
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    border = big * 0.05
    draw.rectangle((border / 2, border / 2, big - border / 2, big - border / 2),
                   outline=SEAL_RED, width=int(border))
    inner = big - 3 * border
    cell_w, cell_h = inner / cols, inner / rows
    font = _font(font_path, font_index, int(min(cell_w, cell_h) * 0.9))
    for i, char in enumerate(chars):
        col = cols - 1 - i // rows  # right column first
        row = i % rows
        tile = _glyph(char, font, SEAL_RED)
        # Stretch each glyph to fill its cell, as seal engravers do.
        tile = tile.resize((int(cell_w * 0.92), int(cell_h * 0.92)), Image.Resampling.LANCZOS)
        x = 1.5 * border + col * cell_w + (cell_w - tile.width) / 2
        y = 1.5 * border + row * cell_h + (cell_h - tile.height) / 2
        img.alpha_composite(tile, (int(x), int(y)))
    return _png(img.resize((size, size), Image.Resampling.LANCZOS))


def legal_rep_seal(name: str, *, font_path: str, font_index: int = 2, size: int = 240) -> bytes:
    """Square legal-representative seal (法人章): the name and 印 in a 2x2 grid."""
    name = _clean_name(name, limit=7)
    suffix = "之印" if len(name) == 2 else "印"
    return _square_seal(list(name + suffix), font_path=font_path, font_index=font_index,
                        size=size)


def personal_seal(name: str, *, font_path: str, font_index: int = 2, size: int = 240) -> bytes:
    """Pre-made personal name seal (预制人名章): the name in a square."""
    name = _clean_name(name, limit=8)
    return _square_seal(list(name), font_path=font_path, font_index=font_index, size=size)


def _is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


def _oblong_seal(text: str, *, font_path: str, font_index: int, height: int) -> bytes:
    """The name on one line inside a rectangular border (long or non-Chinese names)."""
    scale = 4
    big_h = height * scale
    border = big_h * 0.06
    font = _font(font_path, font_index, int(big_h * 0.56))
    left, top, right, bottom = font.getbbox(text)
    text_w = right - left
    big_w = int(max(big_h * 1.6, text_w + 3.2 * border + big_h * 0.3))
    img = Image.new("RGBA", (big_w, big_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rectangle((border / 2, border / 2, big_w - border / 2, big_h - border / 2),
                   outline=SEAL_RED, width=int(border))
    draw.text(((big_w - text_w) / 2 - left, (big_h - (bottom - top)) / 2 - top), text,
              font=font, fill=SEAL_RED)
    return _png(img.resize((big_w // scale, height), Image.Resampling.LANCZOS))


def name_seal(name: str, *, font_path: str, font_index: int = 2, size: int = 240,
              fallback_font_path: str | None = None) -> bytes:
    """预制人名章 of a verified person, as engraved name seals are laid out: a two or
    three-character Chinese name with 之印 / 印 in a square 2x2 grid, read right to
    left; four characters fill the grid alone; any other name (longer, with ·, or in
    Latin letters) on one line in a rectangle."""
    if fallback_font_path and not Path(font_path).is_file():
        font_path = fallback_font_path
    compact = _clean_name(name, limit=24)
    if all(_is_cjk(c) for c in compact) and 2 <= len(compact) <= 4:
        suffix = {2: "之印", 3: "印", 4: ""}[len(compact)]
        return _square_seal(list(compact + suffix), font_path=font_path,
                            font_index=font_index, size=size)
    # Latin names keep the space between their parts.
    return _oblong_seal(" ".join(name.split()), font_path=font_path, font_index=font_index,
                        height=size // 2)


def normalize_signature(data: bytes) -> bytes:
    """A handwritten signature upload → trimmed transparent PNG with dark ink.

    Accepts PNG or JPEG (canvas exports, photos of paper); ink is what is dark and opaque.
    """
    if len(data) > MAX_SIGNATURE_BYTES:
        raise InvalidInput("签名图片过大", code="signature_too_large")
    try:
        img = Image.open(io.BytesIO(data))
        if img.format not in {"PNG", "JPEG"}:
            raise InvalidInput("签名图片必须是 PNG 或 JPEG", code="signature_invalid")
        if max(img.size) > MAX_SIGNATURE_SIDE or img.width * img.height > 8_000_000:
            raise InvalidInput("签名图片尺寸过大", code="signature_too_large")
        img.load()
    except IMAGE_ERRORS as exc:
        raise InvalidInput("签名图片无法读取", code="signature_invalid") from exc
    rgba = img.convert("RGBA")
    alpha = rgba.getchannel("A")
    darkness = Image.eval(rgba.convert("L"), lambda v: 255 - v)
    # Ink strength: darkness weighted by opacity; faint paper texture falls below the cut.
    ink = Image.eval(
        Image.composite(darkness, Image.new("L", rgba.size, 0), alpha),
        lambda v: 0 if v < 60 else min(255, int((v - 60) * 255 / 140)),
    )
    box = ink.getbbox()
    if box is None or sum(ink.crop(box).histogram()[1:]) < MIN_INK_PIXELS:
        raise InvalidInput("没有检测到签名笔迹，请重新书写", code="signature_empty")
    margin = 8
    box = (max(box[0] - margin, 0), max(box[1] - margin, 0),
           min(box[2] + margin, rgba.width), min(box[3] + margin, rgba.height))
    mask = ink.crop(box)
    out = Image.new("RGBA", mask.size, (*INK, 0))
    out.putalpha(mask)
    out.thumbnail(SIGNATURE_BOX, Image.Resampling.LANCZOS)
    return _png(out)


DATE_MAX_SIDE = 2000  # the stamp's own limit (pdf.MAX_STAMP_SIDE)
DATE_PX_PER_POINT = 4.0
DATE_POINTS = 10.5  # 五号, the size of a contract's body text


def signing_date_text(local: date) -> str:
    """A signing date as contracts write it: 2026年12月03日."""
    return f"{local.year}年{local.month:02d}月{local.day:02d}日"


@lru_cache(maxsize=32)
def signing_date_only(date_text: str, box: tuple[float, float], *, font_path: str,
                      font_index: int = 2) -> bytes:
    """A box holding only the signing date (a template's 签署日期 field): the text at up to
    五号, left-aligned and vertically centred, in the box's own proportions."""
    width_pt, height_pt = box
    scale = min(DATE_PX_PER_POINT, DATE_MAX_SIDE / max(width_pt, height_pt, 1.0))
    width, height = max(int(width_pt * scale), 1), max(int(height_pt * scale), 1)
    size = max(int(min(DATE_POINTS, height_pt * 0.7) * scale), 6)
    font = _font(font_path, font_index, size)
    while size > 6 and font.getlength(date_text) > width - 2 * scale:
        size -= 1
        font = _font(font_path, font_index, size)
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((int(scale), height / 2), date_text, font=font,
                                fill=(*INK, 255), anchor="lm")
    return _png(canvas)


@lru_cache(maxsize=32)
def with_signing_date(
    png: bytes, date_text: str, box: tuple[float, float], *, font_path: str,
    font_index: int = 2,
) -> bytes:
    """The stamp as it fills a signature box of `box` (width, height) points: the seal or
    handwriting above, the signing date on the box's bottom line, left-aligned as if
    written after a printed "日期：".

    The image has the box's own proportions, so the date lands on that bottom line whatever
    the stamp's shape. Cached: a party's stamp goes into each of its boxes, often the same
    size, on the same day.
    """
    width_pt, height_pt = box
    scale = min(DATE_PX_PER_POINT, DATE_MAX_SIDE / max(width_pt, height_pt, 1.0))
    width, height = max(int(width_pt * scale), 1), max(int(height_pt * scale), 1)
    size = max(int(min(DATE_POINTS, height_pt * 0.2) * scale), 6)
    font = _font(font_path, font_index, size)
    while size > 6 and font.getlength(date_text) > width - 2 * scale:
        size -= 1
        font = _font(font_path, font_index, size)
    line = int(size * 1.5)

    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    try:
        stamp = Image.open(io.BytesIO(png)).convert("RGBA")
    except IMAGE_ERRORS as exc:
        raise InvalidInput("签名图片无法读取", code="stamp_invalid") from exc
    room = (width, height - line)
    if room[1] > 0:
        fit = min(room[0] / stamp.width, room[1] / stamp.height)
        shown = stamp.resize((max(int(stamp.width * fit), 1), max(int(stamp.height * fit), 1)),
                             Image.Resampling.LANCZOS)
        canvas.alpha_composite(shown, ((room[0] - shown.width) // 2,
                                       (room[1] - shown.height) // 2))
    ImageDraw.Draw(canvas).text((int(scale), height - line / 2), date_text, font=font,
                                fill=(*INK, 255), anchor="lm")
    return _png(canvas)
