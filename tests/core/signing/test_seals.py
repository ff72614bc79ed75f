"""Seal and handwritten-signature images: right size, transparent, red, not blank."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from core.config import load_config
from core.errors import InvalidInput, ProviderUnavailable
from core.signing import seals

FONT = load_config(env={}).signing.font_path


def _open(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.mode == "RGBA"
    return img


def _ink_share(img: Image.Image) -> float:
    alpha = img.getchannel("A").histogram()
    return sum(alpha[128:]) / (img.width * img.height)


def _reddish(img: Image.Image) -> bool:
    opaque = img.getchannel("A").point(lambda v: 255 if v > 200 else 0)
    r, g, _, _ = img.split()
    red = Image.composite(r, Image.new("L", img.size), opaque).histogram()
    green = Image.composite(g, Image.new("L", img.size), opaque).histogram()
    mean = lambda h: sum(i * n for i, n in enumerate(h)) / max(sum(h[1:]), 1)  # noqa: E731
    return mean(red) > 2 * mean(green)


@pytest.mark.parametrize("kind", ["official", "contract"])
def test_round_seal_is_a_transparent_red_disc(kind: str) -> None:
    img = _open(seals.round_seal("杭州示例劳务科技有限公司", kind, font_path=FONT, size=300))
    assert img.size == (300, 300)
    assert img.getpixel((0, 0))[3] == 0  # corners outside the ring are transparent
    assert 0.08 < _ink_share(img) < 0.6
    assert _reddish(img)


def test_contract_seal_has_more_ink_than_official_seal_for_the_label() -> None:
    official = _open(seals.round_seal("示例科技有限公司", "official", font_path=FONT))
    contract = _open(seals.round_seal("示例科技有限公司", "contract", font_path=FONT))
    assert _ink_share(contract) > _ink_share(official)


def test_legal_rep_seal_is_square_and_red() -> None:
    img = _open(seals.legal_rep_seal("王小明", font_path=FONT, size=200))
    assert img.size == (200, 200)
    assert img.getpixel((100, 10))[3] > 200  # the border
    assert 0.15 < _ink_share(img) < 0.8 and _reddish(img)


def test_personal_seal_is_square_and_not_blank() -> None:
    img = _open(seals.personal_seal("李四", font_path=FONT, size=200))
    assert img.size == (200, 200) and _ink_share(img) > 0.1 and _reddish(img)


def test_missing_font_is_a_clear_error() -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        seals.round_seal("示例", "official", font_path="/nonexistent/font.ttc")
    assert caught.value.code == "font_missing"


def test_unknown_seal_kind_is_refused() -> None:
    with pytest.raises(InvalidInput):
        seals.round_seal("示例", "mystery", font_path=FONT)


def _drawing(size=(1200, 600), background="white", mode="RGB") -> bytes:
    img = Image.new(mode, size, background)
    ImageDraw.Draw(img).line([(300, 400), (600, 200), (900, 420)], fill="black", width=12)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_handwriting_is_cropped_to_the_ink_on_transparency() -> None:
    img = _open(seals.normalize_signature(_drawing()))
    assert img.width < 700 and img.height < 300  # the white margins are gone
    assert img.getpixel((0, 0))[3] == 0
    assert _ink_share(img) > 0.02


def test_transparent_canvas_export_is_accepted() -> None:
    img = _open(seals.normalize_signature(_drawing(background=(0, 0, 0, 0), mode="RGBA")))
    assert _ink_share(img) > 0.02


def test_blank_signature_is_refused() -> None:
    blank = io.BytesIO()
    Image.new("RGB", (400, 200), "white").save(blank, "PNG")
    with pytest.raises(InvalidInput) as caught:
        seals.normalize_signature(blank.getvalue())
    assert caught.value.code == "signature_empty"


@pytest.mark.parametrize("data", [b"not an image", b"GIF89a" + b"0" * 100])
def test_non_image_signature_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        seals.normalize_signature(data)


def test_oversized_signature_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        seals.normalize_signature(_drawing(size=(5000, 300)))
    assert caught.value.code == "signature_too_large"
