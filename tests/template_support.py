"""Test data for templates: a short Chinese labour contract that lacks clauses, roles,
fields placed as fractions, and a published template ready to send."""

from __future__ import annotations

from typing import Any

from core.config import Config
from core.context import Deps
from core.signing.cjk_pdf import A4, CjkFont, Page, wrap, write_pdf
from core.templates import service
from tests.contract_support import META

SHORT_TEXT = [
    "劳动合同",
    "甲方（用人单位）：　　　　　　　　法定代表人：　　　　　　住所：",
    "乙方（劳动者）：　　　　　　　　居民身份证号码：　　　　　　住址：",
    "一、劳动合同期限：固定期限三年。",
    "二、工作内容和工作地点：乙方从事软件开发工作，工作地点为杭州。",
    "三、工作时间和休息休假：标准工时制，依法享有休息休假。",
    "四、劳动报酬：月工资　　　　元。",
]


def short_contract_pdf(config: Config, extra: list[str] | None = None, pages: int = 2) -> bytes:
    """A 劳动合同 without 社会保险 and 劳动保护 (unless `extra` adds them)."""
    font = CjkFont(config.signing.font_path, config.signing.font_index)
    try:
        out = []
        for n in range(pages):
            page = Page()
            y = A4[1] - 80
            lines = ((SHORT_TEXT + (extra or [])) if n == 0
                     else ["（签署页）甲方（盖章）　乙方（签字）"])
            for text in lines:
                for line in wrap(font, 12, text, A4[0] - 140):
                    page.text("F1", font, 12, 70, y, line)
                    y -= 22
            out.append(page)
        return write_pdf(out, {"F1": font}, "劳动合同")
    finally:
        font.close()


def place(page: int, x: float, y: float, w: float = 0.3, h: float = 0.03) -> dict[str, Any]:
    return {"page": page, "x": x, "y": y, "w": w, "h": h}


def basic_fields(last_page: int = 1) -> list[dict[str, Any]]:
    return [
        {"key": "emp_name", "kind": "text", "label": "乙方姓名", "role": "emp",
         "filler": "sender", "required": True, "placements": [place(0, 0.3, 0.16),
                                                               place(last_page, 0.6, 0.5)]},
        {"key": "salary", "kind": "number", "label": "月工资", "filler": "sender",
         "required": True, "placements": [place(0, 0.35, 0.33, 0.15)]},
        {"key": "start", "kind": "date", "label": "入职日期", "format": "ymd_cn",
         "filler": "sender", "required": False, "placements": [place(0, 0.5, 0.22)]},
        {"key": "emp_id", "kind": "id_number", "label": "身份证号", "filler": "sender",
         "required": False, "placements": [place(0, 0.6, 0.16, 0.3)]},
        {"key": "emp_addr", "kind": "text", "label": "住址", "filler": "employee",
         "required": True, "placements": [place(0, 0.3, 0.4)]},
        {"key": "seal", "kind": "seal", "label": "甲方盖章", "role": "ent",
         "placements": [place(last_page, 0.1, 0.1, 0.25, 0.15)]},
        {"key": "sig", "kind": "signature", "label": "乙方签名", "role": "emp",
         "placements": [place(last_page, 0.55, 0.1, 0.3, 0.1)]},
        {"key": "emp_date", "kind": "sign_date", "label": "签署日期", "role": "emp",
         "format": "iso", "placements": [place(last_page, 0.55, 0.22, 0.25, 0.035)]},
    ]


async def published_template(deps: Deps, admin_id: str, enterprise_id: str) -> str:
    """The model text, imported and published (it passes the labour-law check)."""
    tid = await service.import_model(deps, admin_id, enterprise_id, meta=META)
    await service.publish(deps, admin_id, enterprise_id, tid, meta=META)
    return tid
