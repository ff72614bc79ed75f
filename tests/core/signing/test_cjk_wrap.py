"""Line breaking of the evidence report's Chinese text (core.signing.cjk_pdf.wrap)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from core.config import load_config
from core.signing.cjk_pdf import NO_LINE_START, CjkFont, wrap

TEXT = ("本报告由 LaborSign 电子签约平台根据平台保存的签署记录出具，列明合同各签署方的身份"
        "核验、意愿认证、数字签名与可信时间戳。SHA-256：" + "0123456789abcdef" * 4 + "。") * 3


@pytest.fixture(scope="module")
def font():
    cfg = load_config(env={}).signing
    face = CjkFont(cfg.font_path, cfg.font_index)
    yield face
    face.close()


@pytest.mark.parametrize("width", [60.0, 200.0, 480.0])
def test_lines_fit_keep_every_character_and_no_line_starts_with_closing_punctuation(
    font, width
) -> None:
    lines = wrap(font, 9, TEXT, width)
    assert "".join(lines) == TEXT
    assert len(lines) > 1
    for line in lines:
        # A line may overrun only by the punctuation mark that may not start the next one.
        fits = font.width(line, 9) <= width + 1e-6
        assert fits or (line[-1] in NO_LINE_START and font.width(line[:-1], 9) <= width)
    assert not any(line[0] in NO_LINE_START for line in lines[1:])
    # Each break is as late as it can be: the next character would not have fitted.
    for line, after in pairwise(lines):
        if after[0] not in NO_LINE_START:
            assert font.width(line + after[0], 9) > width - 1e-6


def test_each_character_is_measured_once(font, monkeypatch) -> None:
    # Measuring the whole line again for every character made long paragraphs quadratic
    # (half of an evidence report's layout time).
    measured: list[int] = []
    real = font.width

    def counting(text: str, size: float) -> float:
        measured.append(len(text))
        return real(text, size)

    monkeypatch.setattr(font, "width", counting)
    wrap(font, 9, TEXT * 20, 480.0)
    assert sum(measured) == len(TEXT) * 20
