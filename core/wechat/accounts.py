"""WeChat accounts: who an openid is, binding and unbinding, WeChat login, OAuth state.

Pages the bot links to are listed in LINKS. Where a follower stands (bound, verified,
contracts waiting) is `core.wechat.standing`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, select

from core import audit
from core.config import Config
from core.context import Deps, RequestMeta
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.ports import WechatApi
from core.sessions import IssuedSession, start_session
from core.validators import safe_next
from storage.models import User, WechatBinding

# H5 paths the bot links to (relative to [server] base_url).
LINKS: dict[str, str] = {
    "bind": "/wechat/bind",
    "login": "/login",
    "register": "/register",
    "identity": "/identity",
    # Owned by the signing feature (contract lists with tabs).
    "contracts": "/contracts",
    "to_sign": "/contracts?tab=to_sign",
    # Owned by the handwritten-signature feature.
    "signature": "/me/signatures",
    "help": "/help",
}

OAUTH_STATE_COOKIE = "ls_wx_oauth"
OPENID_COOKIE = "ls_wx_openid"
OAUTH_STATE_TTL = 600
OPENID_COOKIE_TTL = 1800
# Dev OAuth codes (console WeChat client): a signed openid.
DEV_CODE_PURPOSE = "wx_dev_code"

def api(deps: Deps) -> WechatApi:
    return deps.wechat_api


def link(deps: Deps, name: str, **query: str) -> str:
    url = deps.config.server.base_url.rstrip("/") + LINKS[name]
    if query:
        sep = "&" if "?" in url else "?"
        url += sep + "&".join(f"{k}={quote(v, safe='/')}" for k, v in query.items())
    return url


def oauth_link(deps: Deps, next_path: str) -> str:
    """A link that, opened inside WeChat, logs in through OAuth and then opens next_path."""
    return _oauth_link(deps.config.server.base_url, next_path)


@functools.lru_cache(maxsize=256)
def _oauth_link(base_url: str, next_path: str) -> str:
    # The bot links to a handful of fixed pages: build each once, not per message.
    base = base_url.rstrip("/")
    return f"{base}/wechat/oauth/start?next={quote(safe_next(next_path), safe='/')}"


# -- signed short-lived values (cookies and dev OAuth codes) -----------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_value(config: Config, purpose: str, value: Any, ttl_seconds: int, now_ts: int) -> str:
    body = _b64(json.dumps({"v": value, "e": now_ts + ttl_seconds}, separators=(",", ":"))
                .encode())
    key = config.server.secret_key.encode()
    mac = hmac.new(key, f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign_value(config: Config, purpose: str, token: str | None, now_ts: int) -> Any:
    """The value, or None when the token is missing, forged, for another purpose or expired."""
    if not token or len(token) > 2000 or token.count(".") != 1:
        return None
    body, mac = token.split(".")
    key = config.server.secret_key.encode()
    expected = hmac.new(key, f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        data = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("e"), int) or data["e"] < now_ts:
        return None
    return data.get("v")


async def openid_for_user(deps: Deps, user_id: str) -> str | None:
    async with deps.db.sessions() as session:
        return (
            await session.execute(
                select(WechatBinding.openid).where(WechatBinding.user_id == user_id)
            )
        ).scalar_one_or_none()


def _valid_openid(openid: str) -> str:
    openid = (openid or "").strip()
    if not openid or len(openid) > 64 or not all(c.isalnum() or c in "-_" for c in openid):
        raise InvalidInput("微信身份无效，请从公众号重新打开", code="wechat_openid_invalid")
    return openid


async def bind_openid(deps: Deps, user_id: str, openid: str, meta: RequestMeta) -> bool:
    """Bind the user's account to this openid. False when it already was."""
    openid = _valid_openid(openid)
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        user = await tx.session.get(User, user_id)
        if user is None or user.status != "active":
            raise PermissionDenied()
        by_openid = (
            await tx.session.execute(
                select(WechatBinding).where(WechatBinding.openid == openid).with_for_update()
            )
        ).scalar_one_or_none()
        if by_openid is not None:
            if by_openid.user_id == user_id:
                return False
            raise Conflict(
                "该微信已绑定其他账号，请先登录原账号解绑", code="wechat_bound_elsewhere"
            )
        previous = (
            await tx.session.execute(
                select(WechatBinding).where(WechatBinding.user_id == user_id).with_for_update()
            )
        ).scalar_one_or_none()
        if previous is not None:
            # One WeChat per account: binding a new one replaces the old (recorded below).
            await tx.session.delete(previous)
            await tx.session.flush()
        tx.session.add(WechatBinding(openid=openid, user_id=user_id, created_at=now))
        await audit.record(
            tx, at=now, action="wechat.bind", actor_id=user_id, subject_type="user",
            subject_id=user_id,
            data={"openid": openid, "replaced": previous.openid if previous else None},
            meta=meta,
        )
    return True


async def auto_bind(deps: Deps, user_id: str, openid: str, meta: RequestMeta) -> bool:
    """Bind right after the person logged in or registered from a page the official
    account opened (the openid comes from our own OAuth round, kept in a signed cookie):
    no extra confirmation. Only when the account has no WeChat yet: replacing another
    WeChat needs the person's confirmation (False: nothing changed)."""
    if await openid_for_user(deps, user_id) is not None:
        return False
    return await bind_openid(deps, user_id, openid, meta)


async def unbind_wechat(deps: Deps, user_id: str, meta: RequestMeta) -> None:
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        binding = (
            await tx.session.execute(
                select(WechatBinding).where(WechatBinding.user_id == user_id)
            )
        ).scalar_one_or_none()
        if binding is None:
            raise NotFound("您的账号尚未绑定微信", code="wechat_not_bound")
        await tx.session.execute(delete(WechatBinding).where(WechatBinding.id == binding.id))
        await audit.record(
            tx, at=now, action="wechat.unbind", actor_id=user_id, subject_type="user",
            subject_id=user_id, data={"openid": binding.openid}, meta=meta,
        )


async def login_with_openid(deps: Deps, openid: str, meta: RequestMeta) -> IssuedSession | None:
    """WeChat login (A2): a bound openid opens a session for its user; None if not bound."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        user = (
            await tx.session.execute(
                select(User)
                .join(WechatBinding, WechatBinding.user_id == User.id)
                .where(WechatBinding.openid == openid)
            )
        ).scalar_one_or_none()
        if user is None or user.status != "active":
            return None
        issued = await start_session(tx, deps, user, "wechat", meta)
        await audit.record(
            tx, at=now, action="session.login", actor_id=user.id, subject_type="user",
            subject_id=user.id, data={"method": "wechat"}, meta=meta,
        )
    return issued


# -- OAuth (snsapi_base) -----------------------------------------------------------------


@dataclass(frozen=True)
class OAuthStart:
    authorize_url: str
    state_cookie: str


@dataclass(frozen=True)
class OAuthOutcome:
    next_path: str
    # Set when the openid is bound: the caller sets the session cookie.
    session: IssuedSession | None
    # Set when it is not: remembered (signed) until the user logs in and binds.
    openid_cookie: str | None


def oauth_start(deps: Deps, next_path: str | None, callback_url: str) -> OAuthStart:
    state = secrets.token_urlsafe(16)
    now_ts = int(deps.clock.now().timestamp())
    cookie = sign_value(
        deps.config, "wx_oauth", {"s": state, "n": safe_next(next_path)}, OAUTH_STATE_TTL, now_ts
    )
    return OAuthStart(api(deps).authorize_url(callback_url, state), cookie)


async def oauth_complete(
    deps: Deps, code: str | None, state: str | None, state_cookie: str | None,
    meta: RequestMeta,
) -> OAuthOutcome:
    now_ts = int(deps.clock.now().timestamp())
    remembered = unsign_value(deps.config, "wx_oauth", state_cookie, now_ts)
    if (
        not isinstance(remembered, dict)
        or not state
        or not hmac.compare_digest(str(remembered.get("s", "")).encode(), state.encode())
    ):
        raise PermissionDenied("登录请求已失效，请从公众号重新打开", code="wechat_oauth_state")
    if not code or len(code) > 512:
        raise InvalidInput("微信授权未完成，请重试", code="wechat_oauth_code")
    next_path = safe_next(remembered.get("n"))
    openid = _valid_openid(await api(deps).exchange_oauth_code(code))
    issued = await login_with_openid(deps, openid, meta)
    if issued is not None:
        return OAuthOutcome(next_path, issued, None)
    cookie = sign_value(deps.config, "wx_openid", openid, OPENID_COOKIE_TTL, now_ts)
    return OAuthOutcome(next_path, None, cookie)


def remembered_openid(deps: Deps, cookie: str | None) -> str | None:
    value = unsign_value(deps.config, "wx_openid", cookie, int(deps.clock.now().timestamp()))
    return value if isinstance(value, str) else None


def openid_cookie_for(deps: Deps, openid: str) -> str:
    return sign_value(
        deps.config, "wx_openid", _valid_openid(openid), OPENID_COOKIE_TTL,
        int(deps.clock.now().timestamp()),
    )


async def request_human_support(deps: Deps, openid: str, text: str) -> None:
    """A user asked for a person (人工/客服): recorded for the support desk."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await audit.record(
            tx, at=now, action="wechat.handoff", subject_type="wechat_user", subject_id=openid,
            data={"text": text[:500]},
        )
