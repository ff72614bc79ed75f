"""QR scene handlers, keyed by scene kind (core.wechat.scenes.SCENE_KINDS).

A handler gets the recorded scan and returns the bot's reply. The features that
consume a scan own the pages linked here and read the scan back with
core.wechat.scenes.scene_status(token):
- onboarding     → /onboarding/join?scene=<token>        (employees feature, B5/E4)
- pc_login       → /login/qr/confirm?scene=<token>       (PC console login, A2)
- signature_pad  → /me/signatures/pad?scene=<token>      (handwritten signature, A4)
A creator may instead put the page in the payload as {"path": "/pad/<its token>"}.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from bot.replies import a, not_bound
from core.context import Deps
from core.validators import safe_next
from core.wechat.accounts import oauth_link
from core.wechat.scenes import ScannedScene

SceneHandler = Callable[[Deps, ScannedScene], Awaitable[str]]
SCENE_HANDLERS: dict[str, SceneHandler] = {}


def scene_handler(kind: str) -> Callable[[SceneHandler], SceneHandler]:
    def register(fn: SceneHandler) -> SceneHandler:
        SCENE_HANDLERS[kind] = fn
        return fn

    return register


def _page(path: str, scan: ScannedScene) -> str:
    """The feature's page for this scan: payload["path"] when the creator gave one."""
    given = scan.payload.get("path")
    if isinstance(given, str) and safe_next(given, "") == given:
        return given
    return f"{path}?scene={quote(scan.token)}"


@scene_handler("onboarding")
async def onboarding(deps: Deps, scan: ScannedScene) -> str:
    name = str(scan.payload.get("enterprise_name") or "企业")
    link = oauth_link(deps, _page("/onboarding/join", scan))
    return f"您正在加入「{name}」的入职登记。{a(link, '开始登记')}"


@scene_handler("pc_login")
async def pc_login(deps: Deps, scan: ScannedScene) -> str:
    if scan.user_id is None:
        return "扫码登录电脑端需要先绑定账号。" + not_bound(deps)
    link = oauth_link(deps, _page("/login/qr/confirm", scan))
    return f"您正在电脑上扫码登录 LaborSign。如果是您本人操作，请{a(link, '确认登录')}。"


@scene_handler("signature_pad")
async def signature_pad(deps: Deps, scan: ScannedScene) -> str:
    if scan.user_id is None:
        return "手写签名需要先绑定账号。" + not_bound(deps)
    link = oauth_link(deps, _page("/me/signatures/pad", scan))
    return f"请在手机上完成手写签名：{a(link, '开始签名')}"
