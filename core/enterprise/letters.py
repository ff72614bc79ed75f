"""The authorisation letter (授权委托书) as a one-page PDF, drawn with Pillow.

Pure function (data in, bytes out) so callers can run it in a thread or process pool.
The page is rendered at 150 dpi with the CJK font from [signing] font_path; it only
has to print well and be stamped, not be machine-readable.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

A4_150DPI = (1240, 1754)
MARGIN = 130


@dataclass(frozen=True)
class LetterData:
    enterprise_name: str
    credit_code: str
    legal_rep_name: str
    handler_name: str
    handler_id_masked: str
    handler_phone_masked: str
    reference: str
    date_text: str


@lru_cache(maxsize=8)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def render_letter_pdf(data: LetterData, font_path: str, font_index: int) -> bytes:
    img = Image.new("RGB", A4_150DPI, "white")
    draw = ImageDraw.Draw(img)
    title = _font(font_path, font_index, 56)
    body = _font(font_path, font_index, 32)
    small = _font(font_path, font_index, 24)
    width = A4_150DPI[0]

    y = 170
    heading = "授权委托书"
    w = draw.textlength(heading, font=title)
    draw.text(((width - w) / 2, y), heading, font=title, fill="black")
    y += 140
    draw.text((MARGIN, y), "致：LaborSign 电子劳动合同平台", font=body, fill="black")
    y += 80
    paragraph = (
        f"兹授权 {data.handler_name}（身份证号 {data.handler_id_masked}，手机号 "
        f"{data.handler_phone_masked}）作为我单位经办人，代表我单位 {data.enterprise_name}"
        f"（统一社会信用代码 {data.credit_code}）在贵平台办理企业实名认证、数字证书申请、"
        "印章管理及电子劳动合同签署相关事宜。经办人在授权范围内所作的操作，我单位均予以承认，"
        "并承担相应的法律责任。"
    )
    for line in textwrap.wrap("　　" + paragraph, width=30):
        draw.text((MARGIN, y), line, font=body, fill="black")
        y += 56
    y += 40
    draw.text((MARGIN, y), "授权期限：自签署之日起一年。", font=body, fill="black")
    y += 160
    for label in (
        f"单位名称（盖章）：{data.enterprise_name}",
        f"法定代表人（签字）：{data.legal_rep_name}",
        f"日期：{data.date_text}",
    ):
        draw.text((MARGIN + 380, y), label, font=body, fill="black")
        y += 80
    y = A4_150DPI[1] - 240
    draw.line((MARGIN, y, width - MARGIN, y), fill="#999999", width=2)
    y += 20
    for note in (
        f"认证编号：{data.reference}",
        "请打印本页，加盖单位公章后拍照上传（JPG/PNG，不超过 15 MB）。",
    ):
        draw.text((MARGIN, y), note, font=small, fill="#444444")
        y += 40

    out = io.BytesIO()
    img.save(out, "PDF", resolution=150.0, title="授权委托书")
    return out.getvalue()
