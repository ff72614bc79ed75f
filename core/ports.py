"""Ports: what the core needs from the outside world. Adapters live in core/adapters/."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    # Template name known to every sender: code | notice
    template: str
    params: dict[str, str]
    # The text as the user would read it (console sender and logs of the dev inbox).
    text: str


class FileStore(Protocol):
    """Bytes under opaque keys the store makes up (`area/<32 hex>.<ext>`), never the user's.

    A missing object raises FileNotFoundError, a key of the wrong shape KeyError.
    Synchronous: callers run it in a worker thread (asyncio.to_thread).
    """

    name: str

    def put(self, area: str, data: bytes, ext: str) -> str:
        """Store bytes; returns a new, unguessable key."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""
        ...


class SmsSender(Protocol):
    name: str

    async def send(self, message: SmsMessage) -> str:
        """Deliver or raise; returns the provider's message id."""
        ...


@dataclass(frozen=True)
class IdentityResult:
    # verified | failed | pending
    state: str
    provider_ref: str | None = None
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class FaceSession:
    provider_ref: str
    redirect_url: str


class IdentityVerifier(Protocol):
    name: str
    # Which document types (core.validators.ID_TYPES keys) each method can check:
    # {"face": frozenset({"id_card", …}), "carrier3": …, "bank4": …}. Pages offer only
    # these, and the service refuses any other combination before calling the provider.
    @property
    def id_types(self) -> Mapping[str, frozenset[str]]: ...

    async def carrier3(self, name: str, id_number: str, phone: str) -> IdentityResult: ...

    async def bank4(
        self, name: str, id_number: str, phone: str, bank_card: str
    ) -> IdentityResult: ...

    async def start_face(self, name: str, id_number: str, return_url: str) -> FaceSession: ...

    async def face_result(self, provider_ref: str) -> IdentityResult: ...

    async def check_result(self, method: str, provider_ref: str) -> IdentityResult:
        """Ask again about a check that was left pending (face, carrier3 or bank4)."""
        ...


@dataclass(frozen=True)
class WechatCredentialValue:
    """An access token or JS-SDK ticket and its lifetime in seconds."""

    value: str
    expires_in: int


class WechatApiError(Exception):
    """WeChat answered with a non-zero errcode (or could not be reached: errcode -1)."""

    # Codes meaning the cached access token is no longer valid.
    TOKEN_INVALID = frozenset({40001, 40014, 42001})

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"wechat errcode {errcode}: {errmsg}")


class WechatApi(Protocol):
    """The official-account API. Calls that need it take the shared access token."""

    name: str

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """Where to send the browser for snsapi_base OAuth."""
        ...

    async def fetch_access_token(self) -> WechatCredentialValue: ...

    async def fetch_jsapi_ticket(self, access_token: str) -> WechatCredentialValue: ...

    async def exchange_oauth_code(self, code: str) -> str:
        """The openid behind an OAuth code."""
        ...

    async def send_custom_text(self, access_token: str, openid: str, text: str) -> None: ...

    async def send_template(
        self, access_token: str, openid: str, template_id: str, url: str,
        data: dict[str, str],
    ) -> str:
        """Returns WeChat's msgid."""
        ...

    async def create_menu(self, access_token: str, menu: dict[str, object]) -> None: ...

    async def create_qrcode(self, access_token: str, scene: str, expire_seconds: int) -> str:
        """A temporary QR code for the scene string; returns its ticket."""
        ...


@dataclass(frozen=True)
class Notification:
    user_id: str
    # to_sign | urged | completed | review_result
    event: str
    title: str
    text: str
    # The H5 page the message opens (absolute URL).
    link: str


class NotificationRefused(Exception):
    """This channel cannot reach the user (no binding, unfollowed, no template): fall back."""


class Notifier(Protocol):
    name: str

    async def send(self, notification: Notification) -> str:
        """Deliver, raise NotificationRefused to fall back to SMS, or raise to retry."""
        ...


class ConverterUnavailable(Exception):
    """The converter program is not installed (or could not be started) here."""


class ConverterBusy(Exception):
    """Every conversion slot of this process stayed taken for the whole wait."""


class ConversionFailed(Exception):
    """The converter ran but produced no PDF (a damaged or unsupported document)."""


class ConversionTimedOut(ConversionFailed):
    """The converter ran past its time limit and was killed."""


class DocumentConverter(Protocol):
    """Office documents to PDF, in a separate process (core/adapters/docx_libreoffice.py).

    The input is untrusted: the caller has checked it is a bounded .docx zip; the adapter
    bounds time, concurrency, priority and the size of what it returns, and never lets
    the document run macros or reach the network.
    """

    name: str

    async def docx_to_pdf(self, data: bytes) -> bytes:
        """The PDF, or ConverterUnavailable / ConverterBusy / ConversionFailed /
        ConversionTimedOut."""
        ...
