"""QR scenes: codes whose scan, in WeChat, means something to us.

Kinds (SCENE_KINDS): `onboarding` (an enterprise's onboarding poster, scanned by many
workers until it expires), `pc_login` (a PC asks a phone to confirm a console login)
and `signature_pad` (a PC hands the handwriting pad to the phone). The last two are
single use. `create_scene` makes the token (and the WeChat QR ticket); `scan_scene`
records a scan and returns what the bot needs to answer; the features that consume
the scan (PC login, signature pad, onboarding) read it back with `scene_status`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core import audit
from core.context import Deps
from core.errors import Conflict, InvalidInput, NotFound
from core.ports import WechatApiError
from core.wechat.accounts import api
from core.wechat.credentials import with_token
from storage.models import WechatBinding, WechatScene

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SceneKind:
    single_use: bool
    # onboarding posters live for days; the others for minutes
    long_lived: bool = False


SCENE_KINDS: dict[str, SceneKind] = {
    "onboarding": SceneKind(single_use=False, long_lived=True),
    "pc_login": SceneKind(single_use=True),
    "signature_pad": SceneKind(single_use=True),
}
# WeChat's temporary QR codes live at most 30 days.
MAX_QR_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class SceneTicket:
    token: str
    kind: str
    expires_at: datetime
    qr_ticket: str | None

    @property
    def qr_image_url(self) -> str | None:
        if not self.qr_ticket:
            return None
        return f"https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={self.qr_ticket}"


@dataclass(frozen=True)
class ScannedScene:
    token: str
    kind: str
    payload: dict[str, Any]
    # The scanner's account, when their WeChat is bound.
    user_id: str | None


@dataclass(frozen=True)
class SceneStatus:
    kind: str
    payload: dict[str, Any]
    expires_at: datetime
    used_at: datetime | None
    used_by_openid: str | None
    used_by_user_id: str | None
    scans: int


def _ttl(deps: Deps, kind: SceneKind) -> int:
    w = deps.config.wechat
    return w.onboarding_scene_ttl_days * 86400 if kind.long_lived else w.scene_ttl_seconds


async def create_scene(
    deps: Deps, kind: str, payload: dict[str, Any], *, created_by: str | None = None,
    ttl_seconds: int | None = None,
) -> SceneTicket:
    spec = SCENE_KINDS.get(kind)
    if spec is None:
        raise InvalidInput("未知的二维码类型", code="wechat_scene_kind")
    ttl = min(ttl_seconds or _ttl(deps, spec), MAX_QR_SECONDS)
    token = "s" + secrets.token_urlsafe(18)  # WeChat allows 64 characters of scene_str
    ticket: str | None = None
    try:
        ticket = await with_token(
            deps, lambda access: api(deps).create_qrcode(access, token, ttl)
        )
    except WechatApiError as exc:
        # The scene still works from the simulator and can be retried; say so in the log.
        log.warning("qrcode create failed", extra={"errcode": exc.errcode, "kind": kind})
    now = deps.clock.now()
    expires = now + timedelta(seconds=ttl)
    async with deps.db.transaction() as tx:
        tx.session.add(
            WechatScene(
                token=token, kind=kind, payload=payload, single_use=spec.single_use,
                created_by=created_by, created_at=now, expires_at=expires, scans=0,
                qr_ticket=ticket,
            )
        )
    return SceneTicket(token, kind, expires, ticket)


async def scan_scene(deps: Deps, token: str, openid: str) -> ScannedScene:
    if not token or len(token) > 64:
        raise NotFound("二维码无效", code="wechat_scene_unknown")
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        scene = (
            await tx.session.execute(
                select(WechatScene).where(WechatScene.token == token).with_for_update()
            )
        ).scalar_one_or_none()
        if scene is None:
            raise NotFound("二维码无效", code="wechat_scene_unknown")
        if scene.expires_at <= now:
            raise Conflict("二维码已过期，请刷新后重新扫码", code="wechat_scene_expired")
        if scene.single_use and scene.used_at is not None:
            raise Conflict("二维码已被使用，请刷新后重新扫码", code="wechat_scene_used")
        user_id = (
            await tx.session.execute(
                select(WechatBinding.user_id).where(WechatBinding.openid == openid)
            )
        ).scalar_one_or_none()
        scene.scans += 1
        if scene.used_at is None:
            scene.used_at = now
            scene.used_by_openid = openid
        await audit.record(
            tx, at=now, action="wechat.scene_scan", actor_id=user_id,
            subject_type="wechat_scene", subject_id=scene.id,
            data={"kind": scene.kind, "openid": openid},
        )
        return ScannedScene(token, scene.kind, dict(scene.payload or {}), user_id)


async def scene_status(deps: Deps, token: str) -> SceneStatus:
    async with deps.db.sessions() as session:
        row = (
            await session.execute(
                select(WechatScene, WechatBinding.user_id)
                .outerjoin(WechatBinding, WechatBinding.openid == WechatScene.used_by_openid)
                .where(WechatScene.token == token)
            )
        ).first()
    if row is None:
        raise NotFound("二维码无效", code="wechat_scene_unknown")
    scene, user_id = row
    return SceneStatus(
        scene.kind, dict(scene.payload or {}), scene.expires_at, scene.used_at,
        scene.used_by_openid, user_id, scene.scans,
    )


async def recent_scenes(deps: Deps, limit: int = 20) -> list[dict[str, Any]]:
    """Unexpired scenes, newest first (the dev simulator's 'scan' picker)."""
    now = deps.clock.now()
    async with deps.db.sessions() as session:
        rows = (
            await session.execute(
                select(WechatScene)
                .where(WechatScene.expires_at > now)
                .order_by(WechatScene.created_at.desc())
                .limit(limit)
            )
        ).scalars().all()
    return [
        {"token": r.token, "kind": r.kind, "used": r.used_at is not None,
         "expires_at": r.expires_at.isoformat()}
        for r in rows
    ]
