"""The official-account message protocol: signatures, AES (safe mode), hostile-XML guard.

Shared by the webhook (bot/) and the dev simulator. AES uses wechatpy's PrpCrypto (the
reference WXBizMsgCrypt layout), with our own constant-time signature checks, a vetted
padding check and a CSPRNG for the 16-byte prefix. XML is parsed with the C ElementTree
parser (expat) only after the guard below has refused DOCTYPE/ENTITY declarations and
oversized bodies, so entity expansion (billion laughs) and external entities (XXE) never
reach a parser.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
import socket
import struct
from dataclasses import dataclass
from xml.etree import ElementTree

from wechatpy.crypto import PrpCrypto

from core.config import Config, WechatConfig

# Documented dev defaults so the simulator works out of the box (dev_mode only).
DEV_TOKEN = "laborsign-dev"  # noqa: S105 (public dev default, refused outside dev mode)
DEV_APP_ID = "wxlaborsigndev0001"
# 43 characters of base64 (32 bytes once "=" is appended), derived from a public string.
DEV_AES_KEY = base64.b64encode(hashlib.sha256(b"laborsign-dev").digest()).decode()[:43]

# A decrypted message: WeChat's text messages hold at most 2,048 characters (up to ~8 KB
# of UTF-8), plus a few hundred bytes of XML. The ciphertext around it is bounded only by
# the webhook's body limit ([wechat] max_body_bytes): base64 of AES of a 2,000-character
# Chinese text is already ~8,500 characters, so field caps apply after decryption.
MAX_FIELD_CHARS = 4096
MAX_MESSAGE_BYTES = 16 * 1024
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)


class ProtocolError(Exception):
    """Malformed or hostile input; `status` is what the webhook answers."""

    def __init__(self, reason: str, status: int = 400) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


class BadSignature(ProtocolError):
    def __init__(self, reason: str = "bad signature") -> None:
        super().__init__(reason, status=403)


@dataclass(frozen=True)
class WechatSettings:
    token: str
    app_id: str
    app_secret: str
    aes_keys: tuple[str, ...]  # current first, then the previous one during a rotation

    @property
    def configured(self) -> bool:
        return bool(self.token and self.app_id)


def settings(config: Config) -> WechatSettings:
    w: WechatConfig = config.wechat
    dev = config.server.dev_mode
    token = w.token or (DEV_TOKEN if dev else "")
    app_id = w.app_id or (DEV_APP_ID if dev else "")
    current = w.encoding_aes_key or (DEV_AES_KEY if dev else "")
    keys = tuple(k for k in (current, w.previous_encoding_aes_key) if k)
    return WechatSettings(token, app_id, w.app_secret, keys)


# -- signatures -------------------------------------------------------------------------


def signature(token: str, *parts: str) -> str:
    """SHA-1 over the lexically sorted, concatenated values (URL and message signatures)."""
    return hashlib.sha1("".join(sorted([token, *parts])).encode()).hexdigest()  # noqa: S324


def check_signature(expected_from: tuple[str, ...], token: str, supplied: str | None) -> None:
    if not supplied or not token:
        raise BadSignature()
    computed = signature(token, *expected_from)
    if not hmac.compare_digest(computed.encode(), supplied.strip().lower().encode()):
        raise BadSignature()


# -- AES ------------------------------------------------------------------------------


class _Prp(PrpCrypto):
    def get_random_string(self) -> str:
        return secrets.token_hex(8)


def _key_bytes(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("EncodingAESKey is not 43 characters of base64") from exc
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


@functools.lru_cache(maxsize=8)
def _prp(encoding_aes_key: str) -> _Prp:
    """One cipher object per key (the key check and AES setup run once, not per message)."""
    return _Prp(_key_bytes(encoding_aes_key))


def encrypt(plain: str, encoding_aes_key: str, app_id: str) -> str:
    return _prp(encoding_aes_key).encrypt(plain, app_id).decode()


def decrypt(cipher_b64: str, encoding_aes_key: str, app_id: str) -> str:
    """Decrypt and check the layout: random(16) | len(4) | msg | app_id, PKCS#7 to 32."""
    try:
        raw = base64.b64decode(cipher_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("encrypt is not base64") from None
    if not raw or len(raw) % 16:
        raise ProtocolError("bad ciphertext length")
    plain = _prp(encoding_aes_key).cipher.decrypt(raw)
    pad = plain[-1]
    if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
        raise ProtocolError("bad padding")
    content = plain[16:-pad]
    if len(content) < 4:
        raise ProtocolError("short plaintext")
    length = socket.ntohl(struct.unpack("I", content[:4])[0])
    if length > len(content) - 4:
        raise ProtocolError("bad length")
    app = content[4 + length:].decode("utf-8", "replace")
    if not hmac.compare_digest(app.encode(), app_id.encode()):
        raise ProtocolError("app id mismatch")
    try:
        return content[4:4 + length].decode()
    except UnicodeDecodeError:
        raise ProtocolError("plaintext is not UTF-8") from None


def decrypt_any(cipher_b64: str, keys: tuple[str, ...], app_id: str) -> str:
    """Try the current key, then the previous one (key rotation loses no message)."""
    last: ProtocolError = ProtocolError("no EncodingAESKey configured")
    for key in keys:
        try:
            return decrypt(cipher_b64, key, app_id)
        except ProtocolError as exc:
            last = exc
    raise last


# -- XML ------------------------------------------------------------------------------


def guard_xml(body: bytes, max_bytes: int) -> None:
    if len(body) > max_bytes:
        raise ProtocolError("body too large", status=413)
    if not body.strip():
        raise ProtocolError("empty body")
    if _FORBIDDEN.search(body):
        raise ProtocolError("DTDs and entities are not accepted")


def parse_xml(
    body: bytes | str, max_bytes: int = 65536, *, max_field_chars: int = MAX_FIELD_CHARS
) -> dict[str, str]:
    """A flat <xml><Field>value</Field>…</xml> document as a dict of strings.

    `max_field_chars` bounds each field: a message's own fields stay within WeChat's
    limits; a safe-mode envelope's Encrypt field is bounded by the body size instead.

    Parsed by the C ElementTree parser (expat) after `guard_xml`; text is stripped as
    WeChat's own SDKs do. Elements with children or attributes, and repeated names, are
    left out: the bot uses none of them (ScanCodeInfo, SendLocationInfo, …).

    Not lxml: it is faster on its own, but it lets go of the GIL while it parses, and
    the event loop then has to win the GIL back from whatever thread took it. Measured
    in the running server under load (when the inbox still wrote from a thread), a parse
    took about 90 µs with lxml and 48 µs with expat (docs/benchmarks.md, "WeChat
    webhook").
    """
    raw = body.encode() if isinstance(body, str) else body
    guard_xml(raw, max_bytes)
    try:
        root = ElementTree.fromstring(raw)  # noqa: S314 (guard_xml refused DTDs and entities)
    except (ElementTree.ParseError, ValueError, LookupError) as exc:
        raise ProtocolError(f"malformed XML: {exc}") from None
    if root.tag != "xml":
        raise ProtocolError("root element must be <xml>")
    fields: dict[str, str] = {}
    repeated: set[str] = set()
    for child in root:
        name = child.tag
        if not isinstance(name, str) or len(child) or child.attrib:
            continue
        if name in fields:
            repeated.add(name)
        value = (child.text or "").strip()
        if len(value) > max_field_chars:
            raise ProtocolError(f"field {name} too long")
        fields[name] = value
    for name in repeated:
        del fields[name]
    return fields


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_xml(fields: dict[str, str | int]) -> str:
    parts = ["<xml>"]
    for name, value in fields.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"bad element name {name!r}")
        parts.append(f"<{name}>{value if isinstance(value, int) else _cdata(value)}</{name}>")
    parts.append("</xml>")
    return "".join(parts)


def text_reply(to_user: str, from_user: str, content: str, create_time: int) -> str:
    # Written out rather than through render_xml: fixed element names need no check,
    # and this runs for nearly every message.
    return (f"<xml><ToUserName>{_cdata(to_user)}</ToUserName>"
            f"<FromUserName>{_cdata(from_user)}</FromUserName>"
            f"<CreateTime>{int(create_time)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{_cdata(content)}</Content></xml>")


def encrypt_reply(
    reply_xml: str, settings_: WechatSettings, timestamp: str, nonce: str
) -> str:
    cipher = encrypt(reply_xml, settings_.aes_keys[0], settings_.app_id)
    return render_xml(
        {
            "Encrypt": cipher,
            "MsgSignature": signature(settings_.token, timestamp, nonce, cipher),
            "TimeStamp": timestamp, "Nonce": nonce,
        }
    )
