"""PC QR login (PRODUCT A2).

The login page on a PC shows a QR code holding a one-time token (two minutes, single
use). A phone that is logged in — in its browser, or inside WeChat through OAuth —
opens the confirm page and confirms; the PC, which polls the status, then trades the
confirmed token for a session with one request.

The token is bound to the PC browser: `start_qr_login` also returns a browser secret
that the handler keeps in an HttpOnly cookie, and only that browser can exchange the
token. A QR code that leaks (a photo, a shared screen) cannot log in another browser.
Only hashes of the token and the secret are stored.

In WeChat the same login is reachable through a `pc_login` scene (core.wechat.scenes):
the bot answers the scan with a link to the confirm page (`?scene=<scene token>`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, ratelimit
from core.context import Deps, RequestMeta
from core.errors import Conflict, NotFound, PermissionDenied
from core.ratelimit import Limit
from core.sessions import IssuedSession, start_session
from core.validators import safe_next
from core.wechat.scenes import create_scene, scene_status
from storage.models import QrLogin, User

TTL = timedelta(minutes=2)
COOKIE = "ls_qr_login"
# How often a PC page asks whether the phone has confirmed.
POLL_SECONDS = 2

START_LIMITS = (Limit(20, 600, "二维码刷新过于频繁，请稍后再试"),)
CONFIRM_LIMITS = (Limit(20, 600),)
EXCHANGE_LIMITS = (Limit(30, 600),)

STATES = ("pending", "scanned", "confirmed", "cancelled", "used", "expired")
MESSAGES = {
    "pending": "请使用手机扫描二维码",
    "scanned": "已扫码，请在手机上确认登录",
    "confirmed": "已确认，正在登录…",
    "cancelled": "已在手机上取消登录，请刷新二维码",
    "used": "二维码已被使用，请刷新二维码",
    "expired": "二维码已过期，请刷新二维码",
}


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class QrLoginStarted:
    token: str
    # Goes into the PC browser's HttpOnly cookie (COOKIE), never into the page.
    browser_secret: str
    expires_at: datetime
    confirm_path: str
    # The WeChat scene for scanning with WeChat, and its QR image when the API made one.
    scene_token: str | None
    wechat_qr_url: str | None


@dataclass(frozen=True)
class QrLoginStatus:
    state: str
    message: str


@dataclass(frozen=True)
class QrLoginRequest:
    """What the phone is asked to confirm."""

    device: str
    ip_masked: str
    expires_at: datetime
    state: str


@dataclass(frozen=True)
class QrLoginDone:
    session: IssuedSession
    next_path: str


def usable_browser_secret(value: str | None) -> str | None:
    """The secret from this browser's cookie when it looks like one we issued."""
    if value and 20 <= len(value) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", value):
        return value
    return None


async def start_qr_login(
    deps: Deps, next_path: str | None, meta: RequestMeta, *,
    browser_secret: str | None = None, with_scene: bool = True,
) -> QrLoginStarted:
    """A new QR code for this PC browser. Pass the secret its cookie already holds, so
    several open tabs share it; a new one is made otherwise."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await ratelimit.hit(tx, "qr_login_start", meta.ip or "-", START_LIMITS, now)
    scene_token = wechat_qr = None
    if with_scene:
        # Made outside the transaction: with the real client it is a WeChat API call.
        scene = await create_scene(deps, "pc_login", {}, ttl_seconds=int(TTL.total_seconds()))
        scene_token, wechat_qr = scene.token, scene.qr_image_url
    token = secrets.token_urlsafe(24)
    browser_secret = usable_browser_secret(browser_secret) or secrets.token_urlsafe(24)
    expires = now + TTL
    async with deps.db.transaction() as tx:
        tx.session.add(
            QrLogin(
                token_hash=_hash(token), browser_hash=_hash(browser_secret),
                scene_token=scene_token, state="pending", next_path=safe_next(next_path),
                created_at=now, expires_at=expires, pc_ip=meta.ip,
                pc_user_agent=(meta.user_agent or "")[:300],
            )
        )
    return QrLoginStarted(
        token, browser_secret, expires, f"/login/qr/confirm?t={quote(token)}", scene_token,
        wechat_qr,
    )


def _state(row: QrLogin, now: datetime) -> str:
    if row.state in ("pending", "scanned", "confirmed") and row.expires_at <= now:
        return "expired"
    return row.state


async def _by_token(session: AsyncSession, token: str | None, *, lock: bool = False
                    ) -> QrLogin | None:
    if not token or len(token) > 100:
        return None
    query = select(QrLogin).where(QrLogin.token_hash == _hash(token))
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


def _browser_ok(row: QrLogin, browser_secret: str | None) -> bool:
    return bool(browser_secret) and hmac.compare_digest(
        row.browser_hash, _hash(browser_secret or "")
    )


async def qr_login_status(deps: Deps, token: str | None, browser_secret: str | None
                          ) -> QrLoginStatus:
    """What the PC page shows while it waits (polled)."""
    async with deps.db.sessions() as session:
        row = await _by_token(session, token)
    if row is None:
        raise NotFound("二维码无效，请刷新页面", code="qr_login_unknown")
    if not _browser_ok(row, browser_secret):
        raise PermissionDenied("二维码不属于此浏览器，请刷新页面", code="qr_login_browser")
    state = _state(row, deps.clock.now())
    if state == "pending" and row.scene_token:
        try:
            scanned = (await scene_status(deps, row.scene_token)).used_at is not None
        except NotFound:
            scanned = False
        if scanned:
            state = "scanned"
    return QrLoginStatus(state, MESSAGES[state])


def _refuse_unless_open(state: str) -> None:
    if state == "expired":
        raise Conflict("二维码已过期，请在电脑上刷新后重新扫码", code="qr_login_expired")
    if state in ("used", "confirmed"):
        raise Conflict("二维码已被使用，请在电脑上刷新后重新扫码", code="qr_login_used")
    if state == "cancelled":
        raise Conflict("本次登录已取消，请在电脑上刷新后重新扫码", code="qr_login_cancelled")


async def _find_for_phone(tx_session: AsyncSession, token: str | None, scene: str | None
                          ) -> QrLogin:
    row: QrLogin | None = None
    if token:
        row = await _by_token(tx_session, token, lock=True)
    elif scene and len(scene) <= 64:
        row = (
            await tx_session.execute(
                select(QrLogin).where(QrLogin.scene_token == scene).with_for_update()
            )
        ).scalar_one_or_none()
    if row is None:
        raise NotFound("二维码无效，请在电脑上刷新后重新扫码", code="qr_login_unknown")
    return row


async def view_qr_login(
    deps: Deps, user_id: str, *, token: str | None = None, scene: str | None = None
) -> QrLoginRequest:
    """The confirm page: opening it tells the PC "scanned" (nothing is granted yet)."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        row = await _find_for_phone(tx.session, token, scene)
        state = _state(row, now)
        _refuse_unless_open(state)
        if row.state == "pending":
            row.state = "scanned"
        return QrLoginRequest(device_summary(row.pc_user_agent), mask_ip(row.pc_ip),
                              row.expires_at, row.state)


async def confirm_qr_login(
    deps: Deps, user_id: str, *, token: str | None = None, scene: str | None = None,
    approve: bool = True, meta: RequestMeta,
) -> None:
    """The phone's answer: log the PC in as this user (approve) or refuse."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await ratelimit.hit(tx, "qr_login_confirm", user_id, CONFIRM_LIMITS, now)
        row = await _find_for_phone(tx.session, token, scene)
        _refuse_unless_open(_state(row, now))
        user = await tx.session.get(User, user_id)
        if user is None or user.status != "active":
            raise PermissionDenied()
        row.state = "confirmed" if approve else "cancelled"
        row.confirmed_by = user_id if approve else None
        row.confirmed_at = now
        await audit.record(
            tx, at=now, action="session.qr_confirm" if approve else "session.qr_cancel",
            actor_id=user_id, subject_type="qr_login", subject_id=row.id,
            data={"pc_ip": row.pc_ip, "via": "wechat" if scene else "h5"}, meta=meta,
        )


async def exchange_qr_login(
    deps: Deps, token: str | None, browser_secret: str | None, meta: RequestMeta
) -> QrLoginDone:
    """The PC trades its confirmed token for a session (once, in the browser that made it)."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await ratelimit.hit(tx, "qr_login_exchange", meta.ip or "-", EXCHANGE_LIMITS, now)
    async with deps.db.transaction() as tx:
        row = await _by_token(tx.session, token, lock=True)
        if row is None:
            raise NotFound("二维码无效，请刷新页面", code="qr_login_unknown")
        if not _browser_ok(row, browser_secret):
            raise PermissionDenied(
                "请在显示二维码的电脑浏览器上完成登录", code="qr_login_browser"
            )
        state = _state(row, now)
        if state in ("pending", "scanned"):
            raise Conflict("手机上尚未确认登录", code="qr_login_unconfirmed")
        if state != "confirmed":
            _refuse_unless_open(state)
        user = await tx.session.get(User, row.confirmed_by) if row.confirmed_by else None
        if user is None or user.status != "active":
            raise PermissionDenied()
        row.state, row.used_at = "used", now
        issued = await start_session(tx, deps, user, "qr", meta)
        await audit.record(
            tx, at=now, action="user.login", actor_id=user.id, subject_type="user",
            subject_id=user.id, data={"method": "qr", "qr_login": row.id}, meta=meta,
        )
        return QrLoginDone(issued, row.next_path)


# -- what the phone shows about the PC ----------------------------------------------------

_BROWSERS = (("Edg/", "Edge"), ("MicroMessenger", "微信"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("Mac OS X", "macOS"), ("Android", "Android"),
            ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Linux", "Linux"))


def device_summary(user_agent: str | None) -> str:
    ua = user_agent or ""
    browser = next((name for key, name in _BROWSERS if key in ua), "浏览器")
    system = next((name for key, name in _SYSTEMS if key in ua), "")
    return f"{browser} · {system}" if system else browser


def mask_ip(ip: str | None) -> str:
    if not ip:
        return "未知"
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", ip):
        return ip.rsplit(".", 1)[0] + ".*"
    return ip.split(":")[0] + ":…" if ":" in ip else ip
