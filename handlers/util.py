"""Small request helpers shared by H5 and API handlers."""

from __future__ import annotations

import ipaddress
import json
import math
import re
from typing import Any

from aiohttp import hdrs, web
from aiohttp.web import FileField
from multidict import MultiDict, MultiDictProxy

from core.context import RequestMeta
from core.errors import InvalidInput, PayloadTooLarge, Unauthenticated
from core.sessions import CurrentSession
from handlers.keys import DEPS, FORM_KEY, current_session

# Headers a reverse proxy adds; their presence says the peer is not the browser.
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _trusted_proxies(request: web.Request) -> set[str]:
    trusted = request.app[DEPS].config.server.trusted_proxies
    return {p.strip() for p in trusted.split(",") if p.strip()}


def client_ip(request: web.Request) -> str | None:
    peer = request.remote
    proxies = _trusted_proxies(request)
    if peer and proxies:
        forwarded = request.headers.get("X-Forwarded-For")
        if peer in proxies and forwarded:
            candidate = forwarded.split(",")[-1].strip()
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return peer
    return peer


def is_loopback_address(value: str | None) -> bool:
    """An IP address (IPv4-mapped IPv6 included) or "localhost" naming this machine."""
    if not value:
        return False
    if value.strip().lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_loopback_client(request: web.Request) -> bool:
    """Whether the browser runs on this machine.

    The client is the transport's peer, or the address a trusted proxy forwards. A
    loopback peer that is not a trusted proxy but carries forwarding headers is a local
    reverse proxy speaking for someone else: not loopback.
    """
    peer = request.remote
    if peer not in _trusted_proxies(request) and any(
        name in request.headers for name in FORWARDING_HEADERS
    ):
        return False
    return is_loopback_address(client_ip(request))


def request_meta(request: web.Request) -> RequestMeta:
    return RequestMeta(ip=client_ip(request), user_agent=request.headers.get("User-Agent"))


def require_session(request: web.Request) -> CurrentSession:
    session = current_session(request)
    if session is None:
        raise Unauthenticated()
    return session


# Bounds of what any handler accepts as JSON: depth (json's C decoder recurses and
# raises RecursionError past ~1,000 levels), size, and numbers (no NaN or Infinity, no
# integer beyond JSON's safe range; Python would otherwise parse 4,300 digits).
MAX_JSON_DEPTH = 32
MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_INT = 2**53
# Offsets, limits, page numbers and other integers from a query or a form.
MAX_QUERY_INT = 2**31 - 1
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_BOUNDARY = re.compile(r';\s*boundary=(?:"[^"\r\n]{1,70}"|[^\s;"]{1,70})\s*(?:;|$)', re.IGNORECASE)
# form-data; name="x"; filename="y" with quoted strings that hold no raw quote.
_DISPOSITION = re.compile(
    r'form-data(?:\s*;\s*[A-Za-z*]+=(?:"(?:[^"\\\r\n]|\\.)*"|[^\s;"]+))*\s*;?\s*',
    re.IGNORECASE)


def _bad_json(message: str = "请求体不是合法的 JSON") -> InvalidInput:
    return InvalidInput(message, code="invalid_json")


def _json_int(text: str) -> int:
    if len(text) > 17 or abs(value := int(text)) > MAX_JSON_INT:
        raise _bad_json("数字超出允许的范围")
    return value


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _bad_json("数字超出允许的范围")
    return value


def _no_constant(name: str) -> None:
    raise _bad_json(f"不支持的数值：{name}")


def parse_json(raw: bytes, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The one JSON reader: bounded size and depth, finite numbers in a safe range."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge("请求体过大", code="payload_too_large")
    depth = 0
    for token in _JSON_TOKENS.finditer(raw):
        ch = token.group()
        if ch in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise _bad_json("JSON 嵌套层数过多")
        elif ch in (b"]", b"}"):
            depth -= 1
    try:
        return json.loads(raw, parse_int=_json_int, parse_float=_json_float,
                          parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise _bad_json() from None


async def json_body(request: web.Request) -> dict[str, Any]:
    if not request.content_type.startswith("application/json"):
        raise InvalidInput("请求体须为 JSON", code="invalid_json")
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise PayloadTooLarge("请求体过大", code="payload_too_large")
    body = parse_json(await request.read())
    if not isinstance(body, dict):
        raise InvalidInput("请求体须为 JSON 对象", code="invalid_json")
    return body


def _bad_form() -> InvalidInput:
    return InvalidInput("提交的表单格式不正确，请刷新页面后重试", code="invalid_form")


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """The one form reader (urlencoded or multipart), for every handler and the CSRF check.

    Malformed input is a 400, never an exception from deep inside the parser: multipart
    without a boundary, a part without a well-formed Content-Disposition (a raw quote in
    a file name), nested multipart, bad encodings. Text parts are str, file parts
    FileField; the result is read once per request.
    """
    cached = request.get(FORM_KEY)
    if cached is not None:
        return cached
    ctype = request.content_type
    if ctype == "multipart/form-data" and not _BOUNDARY.search(
            request.headers.get(hdrs.CONTENT_TYPE, "")):
        raise _bad_form()
    try:
        raw = await request.post()
    except (ValueError, LookupError, AssertionError, RuntimeWarning):
        # ValueError covers UnicodeDecodeError; LookupError an unknown charset;
        # RuntimeWarning aiohttp's Content-Disposition warnings when they are errors.
        raise _bad_form() from None
    out: MultiDict[Any] = MultiDict()
    for name, value in raw.items():
        if isinstance(value, FileField):
            disposition = value.headers.get(hdrs.CONTENT_DISPOSITION, "")
            if not _DISPOSITION.fullmatch(disposition):
                raise _bad_form()
            out.add(name, value)
        elif isinstance(value, bytes | bytearray):
            try:
                out.add(name, bytes(value).decode())
            except UnicodeDecodeError:
                raise _bad_form() from None
        else:
            out.add(name, value)
    form = MultiDictProxy(out)
    request[FORM_KEY] = form
    return form


def uploaded_file(form: MultiDictProxy[Any], name: str, limit: int) -> tuple[bytes, str] | None:
    """The bytes (at most limit + 1, so the caller can tell "too large") and file name of
    a file part, or None when the field is missing or a plain text field."""
    part = form.get(name)
    if not isinstance(part, FileField):
        return None
    return part.file.read(limit + 1), part.filename or ""


async def form_data(request: web.Request) -> dict[str, str]:
    """Text fields of a submitted form (file parts are read by upload handlers)."""
    data = await read_form(request)
    return {k: v for k, v in data.items() if isinstance(v, str)}


def bounded_int(value: str | None, field: str, *, default: int | None = None,
                minimum: int = 0, maximum: int = MAX_QUERY_INT) -> int:
    """An integer from a query, a path or a form: digits only, within [minimum, maximum].

    Refuses 10^20 offsets (SQLite cannot bind them), 4,400-digit page numbers, "NaN".
    """
    text = (value or "").strip()
    if not text:
        if default is None:
            raise InvalidInput(f"请求参数不正确：{field}", code="invalid_input", field=field)
        return default
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isascii() or not digits.isdigit() or len(digits) > 10:
        raise InvalidInput(f"请求参数不正确：{field}", code="invalid_input", field=field)
    number = int(text)
    if not minimum <= number <= maximum:
        raise InvalidInput(f"请求参数超出范围：{field}", code="invalid_input", field=field)
    return number
