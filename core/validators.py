"""Input rules with Chinese messages: phone numbers, passwords, ID numbers, credit codes."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit

from core.errors import InvalidInput

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[A-Za-z]{2,}$")
SMS_CODE_RE = re.compile(r"^\d{6}$")
NAME_RE = re.compile(r"^[\u4e00-\u9fa5A-Za-z·•. ]{2,40}$")


def normalize_phone(value: str) -> str:
    phone = (value or "").strip().replace(" ", "").replace("-", "")
    if phone.startswith("+86"):
        phone = phone[3:]
    if not PHONE_RE.match(phone):
        raise InvalidInput("请输入正确的 11 位手机号", code="invalid_phone", field="phone")
    return phone


def check_password_strength(password: str, field: str = "password") -> str:
    """8–16 printable ASCII characters, at least three of: upper, lower, digit, symbol."""
    if not 8 <= len(password) <= 16:
        raise InvalidInput("密码长度须为 8–16 位", code="weak_password", field=field)
    if any(not (33 <= ord(ch) <= 126) for ch in password):
        raise InvalidInput("密码只能包含字母、数字和英文符号，不能有空格", code="weak_password",
                           field=field)
    classes = sum(
        (
            any(c.isupper() for c in password),
            any(c.islower() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        raise InvalidInput(
            "密码须包含大写字母、小写字母、数字、符号中的至少三种", code="weak_password",
            field=field,
        )
    return password


def check_sms_code_format(code: str) -> str:
    code = (code or "").strip()
    if not SMS_CODE_RE.match(code):
        raise InvalidInput("请输入 6 位短信验证码", code="invalid_code", field="code")
    return code


def normalize_email(value: str | None) -> str | None:
    email = (value or "").strip()
    if not email:
        return None
    if len(email) > 200 or not EMAIL_RE.match(email):
        raise InvalidInput("邮箱格式不正确", code="invalid_email", field="email")
    return email.lower()


def check_person_name(value: str) -> str:
    name = (value or "").strip()
    if not NAME_RE.match(name):
        raise InvalidInput("请输入证件上的真实姓名", code="invalid_name", field="name")
    return name


# GB 11643-1999: 17 digits + a check character over ISO 7064 MOD 11-2.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_card_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _gb11643(number: str, what: str, field: str) -> str:
    """An 18-character number in the GB 11643 layout: birth date at 7-14, check character."""
    if not re.fullmatch(r"\d{17}[\dX]", number):
        raise InvalidInput(f"{what}应为 18 位", code="invalid_id_number", field=field)
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput(f"{what}中的出生日期无效", code="invalid_id_number",
                           field=field) from None
    if birth.year < 1900 or birth > date.today():
        raise InvalidInput(f"{what}中的出生日期无效", code="invalid_id_number", field=field)
    if id_card_check_char(number[:17]) != number[17]:
        raise InvalidInput(f"{what}校验位不正确，请核对", code="invalid_id_number", field=field)
    return number


def normalize_id_card(value: str, field: str = "id_number") -> str:
    """A mainland resident ID number: format, birth date and check digit."""
    return _gb11643((value or "").strip().upper(), "身份证号", field)


# Residence permits of Hong Kong, Macao and Taiwan residents: 810000 / 820000 / 830000.
HMT_PERMIT_PREFIXES = ("81", "82", "83")


def normalize_hmt_residence_permit(value: str, field: str = "id_number") -> str:
    """港澳台居民居住证: the resident ID layout with region 81 (HK), 82 (Macao), 83 (Taiwan)."""
    number = _gb11643((value or "").strip().upper(), "居住证号码", field)
    if not number.startswith(HMT_PERMIT_PREFIXES):
        raise InvalidInput("港澳台居民居住证号码应以 81、82 或 83 开头", code="invalid_id_number",
                           field=field)
    return number


def normalize_foreign_permanent_id(value: str, field: str = "id_number") -> str:
    """外国人永久居留身份证: the 2017 card (18 characters in the GB 11643 layout, first
    digit 9) or the older card (3-letter nationality code and 12 digits)."""
    number = (value or "").strip().upper()
    if re.fullmatch(r"[A-Z]{3}\d{12}", number):
        return number
    if len(number) == 18:
        number = _gb11643(number, "永久居留身份证号码", field)
        if number.startswith("9"):
            return number
    raise InvalidInput("永久居留身份证号码应为 18 位（以 9 开头）或 15 位（3 个字母加 12 位数字）",
                       code="invalid_id_number", field=field)


# Every document type a record may carry (labels for pages). Which of them a real-name
# check accepts depends on the identity provider (IdentityVerifier.id_types).
ID_TYPES = {
    "id_card": "居民身份证",
    "hmt_residence": "港澳台居民居住证",
    "foreign_permanent": "外国人永久居留身份证",
    "hk_mo_permit": "港澳居民来往内地通行证",
    "tw_permit": "台湾居民来往大陆通行证",
    "passport": "护照",
}
_ID_NORMALIZERS = {
    "id_card": normalize_id_card,
    "hmt_residence": normalize_hmt_residence_permit,
    "foreign_permanent": normalize_foreign_permanent_id,
}


def normalize_id_number(id_type: str, value: str, field: str = "id_number") -> str:
    if id_type not in ID_TYPES:
        raise InvalidInput("不支持的证件类型", code="invalid_id_type", field="id_type")
    normalizer = _ID_NORMALIZERS.get(id_type)
    if normalizer is not None:
        number = normalizer(value, field)
        if id_type == "id_card" and number.startswith(HMT_PERMIT_PREFIXES):
            raise InvalidInput("这是港澳台居民居住证号码，请在证件类型中选择“港澳台居民居住证”",
                               code="invalid_id_number", field=field)
        if id_type == "id_card" and number.startswith("9"):
            raise InvalidInput("这是外国人永久居留身份证号码，请在证件类型中选择对应证件",
                               code="invalid_id_number", field=field)
        return number
    number = (value or "").strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{6,20}", number):
        raise InvalidInput("证件号码格式不正确", code="invalid_id_number", field=field)
    return number


# GB 32100-2015 unified social credit code: 18 characters, check over MOD 31.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def uscc_format_ok(value: str) -> bool:
    code = (value or "").strip().upper()
    return len(code) == 18 and all(c in _USCC_CHARS for c in code)


def uscc_check_ok(value: str) -> bool:
    code = (value or "").strip().upper()
    return uscc_format_ok(code) and uscc_check_char(code[:17]) == code[17]


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site absolute paths: no scheme, no host, no '//' or backslash tricks."""
    if not value or len(value) > 500 or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(ch) < 32 for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
