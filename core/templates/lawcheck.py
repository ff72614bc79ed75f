"""The labour-law clause check (E2): does a 劳动合同 contain what 劳动合同法 Art. 17 requires?

Art. 17(1) lists the clauses a labour contract must have. Each is looked for in the
template's text by its usual headings and keywords (the 人社部 model text's wording and
the common variants); a clause is present when every group of alternatives matches. The
report says, per clause, what was looked for and what was not found, so an HR officer can
add the missing clause (or import the model text) and check again. It is a completeness
aid, not legal advice: it cannot judge whether a clause is lawful.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Clause:
    key: str
    label: str
    item: str  # 第十七条第一款第（x）项
    # Every group must match; a group matches when any of its words is in the text.
    groups: tuple[tuple[str, ...], ...]


CLAUSES: tuple[Clause, ...] = (
    Clause("employer", "用人单位信息", "第（一）项：用人单位的名称、住所和法定代表人或者主要负责人",
           (("用人单位", "甲方"), ("法定代表人", "主要负责人"), ("住所", "地址"))),
    Clause("worker", "劳动者信息",
           "第（二）项：劳动者的姓名、住址和居民身份证或者其他有效身份证件号码",
           (("劳动者", "乙方"), ("身份证", "有效身份证件", "证件号码"),
            ("住址", "居住地", "通讯地址", "地址"))),
    Clause("term", "劳动合同期限", "第（三）项：劳动合同期限",
           (("合同期限", "固定期限", "以完成一定工作任务为期限"),)),
    Clause("job_place", "工作内容和工作地点", "第（四）项：工作内容和工作地点",
           (("工作内容", "工作岗位", "岗位职责"), ("工作地点",))),
    Clause("hours_leave", "工作时间和休息休假", "第（五）项：工作时间和休息休假",
           (("工作时间", "工时"), ("休息", "休假"))),
    Clause("pay", "劳动报酬", "第（六）项：劳动报酬",
           (("劳动报酬", "工资", "薪酬"),)),
    Clause("social_insurance", "社会保险", "第（七）项：社会保险",
           (("社会保险",),)),
    Clause("protection", "劳动保护、劳动条件和职业危害防护",
           "第（八）项：劳动保护、劳动条件和职业危害防护",
           (("劳动保护",), ("劳动条件", "工作条件"), ("职业危害", "职业病"))),
)


@dataclass(frozen=True)
class ClauseResult:
    key: str
    label: str
    ok: bool
    reason: str
    missing: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "ok": self.ok, "reason": self.reason,
                "missing": list(self.missing)}


@dataclass(frozen=True)
class LawReport:
    ok: bool
    clauses: tuple[ClauseResult, ...]
    text_found: bool

    @property
    def missing(self) -> tuple[ClauseResult, ...]:
        return tuple(c for c in self.clauses if not c.ok)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "text_found": self.text_found,
                "clauses": [c.as_json() for c in self.clauses]}


def _normalise(text: str) -> str:
    # pdf text comes with line breaks and spaces between glyphs; the keywords have none.
    return re.sub(r"\s+", "", text)


def check_text(text: str) -> LawReport:
    flat = _normalise(text)
    results = []
    for clause in CLAUSES:
        missing = tuple("或".join(f"“{w}”" for w in group) for group in clause.groups
                        if not any(w in flat for w in group))
        if missing:
            reason = (f"《劳动合同法》第十七条{clause.item}。模板中未找到 "
                      + "；".join(missing) + "，请补充该条款。")
        else:
            reason = f"已包含（{clause.item}）"
        results.append(ClauseResult(clause.key, clause.label, not missing, reason, missing))
    found = len(flat) >= 20
    return LawReport(found and all(r.ok for r in results), tuple(results), found)
