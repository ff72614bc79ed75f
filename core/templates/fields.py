"""A template's signer roles and fields: the rules, bounds and value checks (pure).

Positions are fractions of the page with the origin at the top left (x, y, w, h in 0..1),
so a placement survives any render size and a replaced PDF of the same page shape. They
become PDF points (origin bottom left) only when a contract is made.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import InvalidInput
from core.validators import normalize_id_card, normalize_phone

BUSINESS_TYPES = ("劳动合同", "劳务派遣合同", "保密协议", "实习协议", "劳务合同", "其他")
LABOUR_CONTRACT = "劳动合同"

KINDS: dict[str, str] = {
    "text": "文本",
    "date": "日期",
    "number": "数字",
    "id_number": "身份证号",
    "phone": "手机号",
    "checkbox": "勾选框",
    "sign_date": "签署日期",
    "signature": "签名",
    "seal": "盖章",
}
# Filled with a value (by the sender or the employee) before anyone signs.
VALUE_KINDS = ("text", "date", "number", "id_number", "phone", "checkbox")
# Become signature boxes of their role, applied at signing.
SIGNING_KINDS = ("sign_date", "signature", "seal")
FILLERS = {"sender": "发起方填写", "employee": "乙方补全"}
DATE_FORMATS: dict[str, str] = {
    "ymd_cn": "2026年12月03日",
    "iso": "2026-12-03",
    "slash": "2026/12/03",
    "dot": "2026.12.03",
}
DEFAULT_DATE_FORMAT = "ymd_cn"

MAX_ROLES = 5
MAX_FIELDS = 60
MAX_PLACEMENTS = 10
MAX_SIGNING_BOXES = 20  # all roles together; each one becomes a signature
MAX_TEXT = 200
MIN_FONT, MAX_FONT, DEFAULT_FONT = 6.0, 36.0, 10.5
KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
# A signature box must hold a stamp: at least this many points each way (send.plan_fields).
MIN_SIGNING_POINTS = 20.0


@dataclass(frozen=True)
class Role:
    key: str
    party: str  # enterprise | person
    name: str
    order: int

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "party": self.party, "name": self.name, "order": self.order}


@dataclass(frozen=True)
class Placement:
    page: int  # 0-based
    x: float
    y: float
    w: float
    h: float

    def as_json(self) -> dict[str, Any]:
        return {"page": self.page, "x": round(self.x, 5), "y": round(self.y, 5),
                "w": round(self.w, 5), "h": round(self.h, 5)}

    def rect(self, size: tuple[float, float]) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2) in PDF points, origin bottom left, on a page of `size`."""
        pw, ph = size
        return (round(self.x * pw, 2), round(ph - (self.y + self.h) * ph, 2),
                round((self.x + self.w) * pw, 2), round(ph - self.y * ph, 2))


@dataclass(frozen=True)
class Field:
    key: str
    kind: str
    label: str
    role: str  # the role that signs (signing kinds) or whose data it is
    filler: str  # sender | employee (value kinds)
    required: bool
    font_size: float
    format: str  # date and sign_date: a DATE_FORMATS key
    placements: tuple[Placement, ...]
    default: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "label": self.label, "role": self.role,
                "filler": self.filler, "required": self.required, "font_size": self.font_size,
                "format": self.format, "default": self.default,
                "placements": [p.as_json() for p in self.placements]}


def _bad(message: str, field: str = "fields") -> InvalidInput:
    return InvalidInput(message, code="invalid_template_field", field=field)


def _text(value: object, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(value)
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(value)
    return out


def parse_roles(raw: object) -> list[Role]:
    """At least one enterprise and one person; orders 1..10 (equal orders sign in parallel)."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("请设置签署角色", code="invalid_roles", field="roles")
    if len(raw) > MAX_ROLES:
        raise InvalidInput(f"签署角色不能超过 {MAX_ROLES} 个", code="invalid_roles",
                           field="roles")
    roles: list[Role] = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidInput("签署角色格式有误", code="invalid_roles", field="roles")
        key = _text(item.get("key"), 32)
        party = _text(item.get("party"), 20)
        name = _text(item.get("name"), 20)
        if not KEY_RE.match(key) or party not in ("enterprise", "person") or not name:
            raise InvalidInput("签署角色须有标识、类型（企业/个人）和名称", code="invalid_roles",
                               field="roles")
        try:
            order = int(_number(item.get("order", 1)))
        except (ValueError, OverflowError):
            raise InvalidInput("签署顺序须为数字", code="invalid_roles", field="roles") from None
        if not 1 <= order <= 10:
            raise InvalidInput("签署顺序须在 1 到 10 之间", code="invalid_roles", field="roles")
        roles.append(Role(key, party, name, order))
    if len({r.key for r in roles}) != len(roles):
        raise InvalidInput("签署角色标识重复", code="invalid_roles", field="roles")
    parties = [r.party for r in roles]
    if parties.count("enterprise") != 1 or "person" not in parties:
        raise InvalidInput("模板须有一个企业签署方和至少一个个人签署方", code="invalid_roles",
                           field="roles")
    return roles


def _placement(raw: object, pages: int) -> Placement:
    if not isinstance(raw, dict):
        raise _bad("字段位置格式有误", "placements")
    try:
        page = int(_number(raw.get("page")))
        x, y, w, h = (_number(raw.get(k)) for k in ("x", "y", "w", "h"))
    except (ValueError, OverflowError):
        raise _bad("字段位置须为数字", "placements") from None
    if not 0 <= page < pages:
        raise _bad(f"字段位置的页码超出范围（共 {pages} 页）", "page")
    if not (x >= 0 and y >= 0 and w > 0.005 and h > 0.005 and x + w <= 1.0001
            and y + h <= 1.0001):
        raise _bad("字段位置超出了页面范围（位置为页面的比例，0 到 1）", "placements")
    return Placement(page, x, y, min(w, 1 - x), min(h, 1 - y))


def parse_fields(raw: object, roles: list[Role], page_sizes: list[tuple[float, float]]
                 ) -> list[Field]:
    """Validate a field list against the roles and the pages; bounds every count."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _bad("字段列表格式有误")
    if len(raw) > MAX_FIELDS:
        raise _bad(f"字段不能超过 {MAX_FIELDS} 个")
    by_key = {r.key: r for r in roles}
    person = next(r for r in roles if r.party == "person")
    out: list[Field] = []
    for item in raw:
        if not isinstance(item, dict):
            raise _bad("字段格式有误")
        kind = _text(item.get("kind"), 20)
        if kind not in KINDS:
            raise _bad("字段类型无效", "kind")
        key = _text(item.get("key"), 32)
        if not KEY_RE.match(key):
            raise _bad("字段标识只能包含字母、数字和下划线，以字母开头", "key")
        label = _text(item.get("label"), 40) or KINDS[kind]
        role_key = _text(item.get("role"), 32)
        if kind == "seal":
            role_key = next(r.key for r in roles if r.party == "enterprise")
        elif role_key not in by_key:
            role_key = person.key
        role = by_key[role_key]
        if kind == "signature" and role.party != "person":
            raise _bad(f"“{label}”：签名须属于个人签署方", "role")
        filler = _text(item.get("filler"), 20) or "sender"
        if filler not in FILLERS:
            raise _bad("填写人无效", "filler")
        if kind in SIGNING_KINDS:
            filler = "sender"
        try:
            font_size = _number(item.get("font_size", DEFAULT_FONT))
        except (ValueError, OverflowError):
            raise _bad("字号须为数字", "font_size") from None
        if not MIN_FONT <= font_size <= MAX_FONT:
            raise _bad(f"字号须在 {MIN_FONT:g} 到 {MAX_FONT:g} 之间", "font_size")
        fmt = _text(item.get("format"), 20)
        if kind in ("date", "sign_date"):
            fmt = fmt or DEFAULT_DATE_FORMAT
            if fmt not in DATE_FORMATS:
                raise _bad("日期格式无效", "format")
        else:
            fmt = ""
        places = item.get("placements")
        if not isinstance(places, list) or not places:
            raise _bad(f"“{label}”还没有放到页面上", "placements")
        if len(places) > MAX_PLACEMENTS:
            raise _bad(f"同一字段最多显示在 {MAX_PLACEMENTS} 处", "placements")
        placements = tuple(_placement(p, len(page_sizes)) for p in places)
        if kind in SIGNING_KINDS:
            for p in placements:
                pw, ph = page_sizes[p.page]
                if p.w * pw < MIN_SIGNING_POINTS or p.h * ph < MIN_SIGNING_POINTS:
                    raise _bad(f"“{label}”的位置太小，请拉大一些", "placements")
        default = _text(item.get("default"), MAX_TEXT) if kind in VALUE_KINDS else ""
        out.append(Field(key, kind, label, role_key, filler, bool(item.get("required")),
                         round(font_size, 1), fmt, placements, default))
    if len({f.key for f in out}) != len(out):
        raise _bad("字段标识重复", "key")
    boxes = sum(len(f.placements) for f in out if f.kind in SIGNING_KINDS)
    if boxes > MAX_SIGNING_BOXES:
        raise _bad(f"签名、盖章和签署日期的位置合计不能超过 {MAX_SIGNING_BOXES} 处")
    return out


def check_ready(roles: list[Role], fields: list[Field]) -> None:
    """What publishing needs beyond well-formed fields: every role has somewhere to sign,
    and the employee fills their fields before anyone's signature seals the page."""
    for role in roles:
        if not any(f.role == role.key and f.kind in ("signature", "seal") for f in fields):
            what = "盖章" if role.party == "enterprise" else "签名"
            raise InvalidInput(f"请为“{role.name}”放置{what}位置", code="template_incomplete",
                               field="fields")
    employee_fields = [f for f in fields if f.kind in VALUE_KINDS and f.filler == "employee"]
    if employee_fields:
        person = first_person(roles)
        if any(r.order <= person.order for r in roles if r.key != person.key):
            raise InvalidInput(
                f"有“乙方补全”字段时，{person.name}须最先签署（签署顺序比其他签署方小）",
                code="template_incomplete", field="roles")


def first_person(roles: list[Role]) -> Role:
    return next(r for r in roles if r.party == "person")


def roles_of(raw: list[Any]) -> list[Role]:
    return [Role(r["key"], r["party"], r["name"], int(r["order"])) for r in raw]


def fields_of(raw: list[Any]) -> list[Field]:
    return [
        Field(f["key"], f["kind"], f["label"], f["role"], f["filler"], bool(f["required"]),
              float(f["font_size"]), f.get("format", ""),
              tuple(Placement(int(p["page"]), float(p["x"]), float(p["y"]), float(p["w"]),
                              float(p["h"])) for p in f["placements"]),
              f.get("default", ""))
        for f in raw
    ]


def format_date(day: date, fmt: str) -> str:
    if fmt == "iso":
        return day.isoformat()
    if fmt == "slash":
        return f"{day.year}/{day.month:02d}/{day.day:02d}"
    if fmt == "dot":
        return f"{day.year}.{day.month:02d}.{day.day:02d}"
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def _parse_date(value: str) -> date:
    m = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", value)
    if not m:
        raise ValueError(value)
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def clean_value(f: Field, raw: object) -> str:
    """One value as it will be printed; a Chinese message names the field when it is bad."""
    value = _text(raw, MAX_TEXT) if not isinstance(raw, bool) else ("1" if raw else "")
    name = f.key
    if f.kind == "checkbox":
        return "✓" if value in ("1", "true", "on", "yes", "✓") else ""
    if not value:
        if f.required:
            raise InvalidInput(f"请填写“{f.label}”", code="field_required", field=name)
        return ""
    if "\n" in value or "\r" in value:
        value = " ".join(value.split())
    if f.kind == "date":
        try:
            return format_date(_parse_date(value), f.format)
        except ValueError:
            raise InvalidInput(f"“{f.label}”须为日期，如 2027-01-01", code="invalid_field_value",
                               field=name) from None
    if f.kind == "number":
        try:
            number = Decimal(value.replace(",", ""))
        except InvalidOperation:
            raise InvalidInput(f"“{f.label}”须为数字", code="invalid_field_value",
                               field=name) from None
        if not number.is_finite() or abs(number) >= Decimal(10) ** 15:
            raise InvalidInput(f"“{f.label}”须为数字", code="invalid_field_value", field=name)
        return value.replace(",", "")
    if f.kind == "id_number":
        return normalize_id_card(value, field=name)
    if f.kind == "phone":
        return normalize_phone(value)
    return value


def clean_values(fields: list[Field], raw: dict[str, object], filler: str) -> dict[str, str]:
    """The values of the fields `filler` fills (sender or employee), checked one by one."""
    out: dict[str, str] = {}
    for f in fields:
        if f.kind in VALUE_KINDS and f.filler == filler:
            out[f.key] = clean_value(f, raw.get(f.key, f.default))
    return out
