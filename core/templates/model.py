"""The 人社部劳动合同（通用）示范文本 as a starting template: a blank Chinese PDF with the
clauses of 劳动合同法 Art. 17, and its fields already placed.

The text follows core.contracts.demo_contract (the same chapters and layout), with the
filled-in values left blank; the parties' blanks become sender fields (甲方) and employee
fields (乙方补全 for the address), and the signature block gets the seal, the signature
and the two signing dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.contracts.demo_contract import BODY, CLAUSES, MARGIN, _faces, _Layout
from core.signing.cjk_pdf import A4, CjkFont, write_pdf

BLANK = "{　　　　　　　　}"


@dataclass(frozen=True)
class ModelTemplate:
    pdf: bytes
    fields: list[dict[str, Any]]


def _frac(page: int, rect: tuple[float, float, float, float]) -> dict[str, Any]:
    x1, y1, x2, y2 = rect
    w, h = A4
    return {"page": page, "x": round(x1 / w, 5), "y": round((h - y2) / h, 5),
            "w": round((x2 - x1) / w, 5), "h": round((y2 - y1) / h, 5)}


def _field(key: str, kind: str, label: str, filler: str, page: int,
           rect: tuple[float, float, float, float], *, role: str = "emp",
           required: bool = True, fmt: str = "") -> dict[str, Any]:
    return {"key": key, "kind": kind, "label": label, "role": role, "filler": filler,
            "required": required, "font_size": BODY, "format": fmt,
            "placements": [_frac(page, rect)]}


def model_template(*, font_path: str, font_index: int = 2) -> ModelTemplate:
    regular, bold = _faces(font_path, font_index)
    body, heavy = CjkFont(regular, font_index), CjkFont(bold, font_index)
    try:
        return _lay_out(body, heavy)
    finally:
        body.close()
        heavy.close()


def _lay_out(body: CjkFont, heavy: CjkFont) -> ModelTemplate:
    out = _Layout(body, heavy)
    fields: list[dict[str, Any]] = []
    out.y = A4[1] - 250
    out.centered("劳 动 合 同 书", 30)
    out.centered("（通用）", 14, bold=False, gap=6)
    out.y = MARGIN + 80
    out.centered("参照人力资源社会保障部劳动合同（通用）示范文本", 10.5, bold=False)

    out.new_page()
    out.centered("劳动合同书", 18)
    out.y -= 6

    def blank(key: str, label: str, kind: str, filler: str, role: str = "emp") -> None:
        out.field(label, "")
        start = MARGIN + body.width(label, BODY) + 4
        page = len(out.pages) - 1
        fields.append(_field(key, kind, label.rstrip("："), filler, page,
                             (start, out.y - 4, A4[0] - MARGIN, out.y + BODY + 3), role=role))

    blank("ent_name", "甲方（用人单位）：", "text", "sender", "ent")
    blank("ent_code", "统一社会信用代码：", "text", "sender", "ent")
    blank("ent_rep", "法定代表人（主要负责人）或委托代理人：", "text", "sender", "ent")
    blank("ent_address", "注册地址（住所）：", "text", "sender", "ent")
    out.y -= 10
    blank("emp_name", "乙方（劳动者）：", "text", "sender")
    blank("emp_id", "居民身份证号码：", "id_number", "sender")
    blank("emp_address", "经常居住地（通讯地址）：", "text", "employee")
    blank("emp_phone", "联系电话：", "phone", "sender")
    out.y -= 6
    for kind, text in CLAUSES:
        if kind == "h":
            out.heading(text)
        else:
            out.paragraph(re.sub(r"\{[^}]*\}", BLANK, text))

    block = 170.0
    pages = len(out.pages)
    out.room(block + 50)
    if len(out.pages) > pages:
        out.centered("（本页为《劳动合同书》签署页，无正文）", BODY, bold=False)
    top = out.y - 30
    left, right = MARGIN, A4[0] / 2 + 20
    page_ix = len(out.pages) - 1
    page = out.page
    page.text("F2", heavy, BODY + 0.5, left, top, "甲方（盖章）：")
    page.text("F2", heavy, BODY + 0.5, right, top, "乙方（签字）：")
    date_y = top - block + 20
    label_w = body.width("日期：", BODY)
    for x in (left, right):
        page.text("F1", body, BODY, x, date_y, "日期：")
    fields.append(_field("seal", "seal", "甲方盖章", "sender", page_ix,
                         (left + 10, date_y + 20, left + 140, top - 10), role="ent"))
    fields.append(_field("signature", "signature", "乙方签名", "sender", page_ix,
                         (right + 10, date_y + 30, right + 170, top - 20)))
    for key, x, role in (("ent_date", left, "ent"), ("emp_date", right, "emp")):
        fields.append(_field(key, "sign_date", "签署日期", "sender", page_ix,
                             (x + label_w, date_y - 7, x + label_w + 130, date_y + 15),
                             role=role, fmt="ymd_cn"))
    out.footers()
    return ModelTemplate(write_pdf(out.pages, out.fonts, "劳动合同书（示范文本）"), fields)

