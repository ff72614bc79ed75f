"""One access token (and JS-SDK ticket) for all workers.

The value lives in the database. When it is missing or near expiry, exactly one caller
takes a short lease on the row and fetches a new one (the stable_token API, so a second
fetch elsewhere would not invalidate ours anyway); the others wait for it instead of
hammering WeChat, whose daily token quota is small. No database lock is held during
the HTTP call.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.context import Deps
from core.errors import InvalidInput, ProviderUnavailable
from core.ports import WechatApiError, WechatCredentialValue
from core.wechat.accounts import api
from core.wechat.protocol import settings
from storage.models import WechatCredential

ACCESS_TOKEN = "access_token"  # noqa: S105 (a row name, not a secret)
JSAPI_TICKET = "jsapi_ticket"
# Refresh this long before WeChat's expiry, so no call carries a token about to die.
MARGIN = timedelta(minutes=5)
LEASE = timedelta(seconds=15)
WAIT_STEP = 0.05
WAIT_ROUNDS = 200

T = TypeVar("T")
Fetch = Callable[[], Awaitable[WechatCredentialValue]]


async def _cached(deps: Deps, name: str) -> str | None:
    now = deps.clock.now()
    async with deps.db.sessions() as session:
        row = await session.get(WechatCredential, name)
    if row is not None and row.value and row.expires_at and row.expires_at > now + MARGIN:
        return row.value
    return None


async def _take_lease(deps: Deps, name: str, lease: str) -> tuple[str | None, bool]:
    """(fresh value, False) | (None, True: we hold the lease) | (None, False: someone does)."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        row = (
            await tx.session.execute(
                select(WechatCredential).where(WechatCredential.name == name).with_for_update()
            )
        ).scalar_one_or_none()
        if row is None:
            row = WechatCredential(name=name)
            tx.session.add(row)
        if row.value and row.expires_at and row.expires_at > now + MARGIN:
            return row.value, False
        if row.lease_id and row.lease_until and row.lease_until > now:
            return None, False
        row.lease_id = lease
        row.lease_until = now + LEASE
    return None, True


async def credential(deps: Deps, name: str, fetch: Fetch) -> str:
    deadline = time.monotonic() + WAIT_STEP * WAIT_ROUNDS
    while time.monotonic() < deadline:
        value = await _cached(deps, name)
        if value:
            return value
        lease = secrets.token_hex(8)
        try:
            value, holder = await _take_lease(deps, name, lease)
        except IntegrityError:  # two first-ever callers inserted the row at once
            continue
        if value:
            return value
        if holder:
            return await _refresh(deps, name, lease, fetch)
        await asyncio.sleep(WAIT_STEP)
    raise ProviderUnavailable("微信服务暂时不可用，请稍后重试", code="wechat_unavailable")


async def _refresh(deps: Deps, name: str, lease: str, fetch: Fetch) -> str:
    try:
        fresh = await fetch()
    except BaseException:
        async with deps.db.transaction() as tx:
            await tx.session.execute(
                update(WechatCredential)
                .where(WechatCredential.name == name, WechatCredential.lease_id == lease)
                .values(lease_id=None, lease_until=None)
            )
        raise
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        await tx.session.execute(
            update(WechatCredential)
            .where(WechatCredential.name == name)
            .values(
                value=fresh.value, expires_at=now + timedelta(seconds=fresh.expires_in),
                refreshed_at=now, lease_id=None, lease_until=None,
            )
        )
    return fresh.value


async def invalidate(deps: Deps, name: str, value: str) -> None:
    """WeChat said the value is no longer valid: the next caller refreshes."""
    async with deps.db.transaction() as tx:
        await tx.session.execute(
            update(WechatCredential)
            .where(WechatCredential.name == name, WechatCredential.value == value)
            .values(expires_at=None)
        )


async def access_token(deps: Deps) -> str:
    return await credential(deps, ACCESS_TOKEN, api(deps).fetch_access_token)


async def jsapi_ticket(deps: Deps) -> str:
    async def fetch() -> WechatCredentialValue:
        return await with_token(deps, api(deps).fetch_jsapi_ticket)

    return await credential(deps, JSAPI_TICKET, fetch)


async def with_token(deps: Deps, call: Callable[[str], Awaitable[T]]) -> T:
    """Run an API call with the shared token; on 'token invalid' refresh once and retry."""
    token = await access_token(deps)
    try:
        return await call(token)
    except WechatApiError as exc:
        if exc.errcode not in WechatApiError.TOKEN_INVALID:
            raise
        await invalidate(deps, ACCESS_TOKEN, token)
        return await call(await access_token(deps))


def jssdk_signature(ticket: str, nonce: str, timestamp: int, url: str) -> str:
    """JS-SDK config signature: SHA-1 over the fixed-order query string, URL without #…"""
    page = url.split("#", 1)[0]
    raw = f"jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={page}"
    return hashlib.sha1(raw.encode()).hexdigest()  # noqa: S324


async def jssdk_config(deps: Deps, url: str) -> dict[str, object]:
    """wx.config values for a page of ours (only our own origin is signed)."""
    base = deps.config.server.base_url.rstrip("/")
    page = url.split("#", 1)[0]
    if not (page == base or page.startswith(base + "/")) or len(page) > 2000:
        raise InvalidInput("页面地址不属于本站", code="wechat_jssdk_url")
    ticket = await jsapi_ticket(deps)
    nonce = secrets.token_urlsafe(12)
    ts = int(deps.clock.now().timestamp())
    return {
        "appId": settings(deps.config).app_id, "timestamp": ts, "nonceStr": nonce,
        "signature": jssdk_signature(ticket, nonce, ts, page),
    }
