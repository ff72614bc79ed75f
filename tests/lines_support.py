"""A one-page form for snapping tests: a label with a drawn underline, a label followed by
underscores, and (optionally) a thin filled rectangle, at known positions in points."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Config
from core.signing.cjk_pdf import CjkFont, Page, write_pdf

RULE_Y = 698.0          # the underline after 甲方（用人单位）：, x 180..500
RULE_X = (180.0, 500.0)
NAME_Y = 500.0          # the baseline of 姓名：______
RECT_Y = 300.8          # the middle of the thin rectangle, x 100..300


@dataclass(frozen=True)
class FormPdf:
    pdf: bytes
    after_label: float  # where 姓名： ends (points), so where the underscores start


def form_pdf(config: Config, *, rectangle: bool = True) -> FormPdf:
    font = CjkFont(config.signing.font_path, config.signing.font_index)
    try:
        page = Page()
        page.text("F1", font, 12, 70, 700, "甲方（用人单位）：")
        page.line(RULE_X[0], RULE_Y, RULE_X[1], RULE_Y, width=0.6)
        if rectangle:
            page.ops.append("0 g 100 300.2 200 1.2 re f")
        page.text("F1", font, 12, 70, NAME_Y, "姓名：______________")
        return FormPdf(write_pdf([page], {"F1": font}, "表单"), 70 + font.width("姓名：", 12))
    finally:
        font.close()
