"""QR scenes: one-time and expiring tokens, the registry of handlers."""

from __future__ import annotations

from bot.scenes import SCENE_HANDLERS
from core.context import RequestMeta
from core.wechat.accounts import bind_openid
from core.wechat.scenes import SCENE_KINDS, create_scene, scene_status
from tests.bot.wx import FakeWechat
from tests.factories import make_user


async def _bound(deps, openid: str) -> str:
    user = await make_user(deps)
    await bind_openid(deps, user.id, openid, RequestMeta())
    return user.id


def test_every_scene_kind_has_a_handler() -> None:
    assert set(SCENE_HANDLERS) == set(SCENE_KINDS)


async def test_pc_login_scan_links_to_confirmation_and_records_the_user(
    wx: FakeWechat, deps
) -> None:
    user_id = await _bound(deps, "o_pc")
    token = (await create_scene(deps, "pc_login", {})).token
    reply = await wx.event("o_pc", "SCAN", token)
    assert "/login/qr/confirm%3Fscene%3D" in reply
    status = await scene_status(deps, token)
    assert (status.used_by_openid, status.used_by_user_id) == ("o_pc", user_id)


async def test_single_use_scene_cannot_be_scanned_twice(wx: FakeWechat, deps) -> None:
    await _bound(deps, "o_twice")
    token = (await create_scene(deps, "pc_login", {})).token
    await wx.event("o_twice", "SCAN", token)
    assert "已被使用" in await wx.event("o_twice", "SCAN", token)


async def test_expired_scene_is_refused(wx: FakeWechat, deps, clock) -> None:
    token = (await create_scene(deps, "signature_pad", {})).token
    clock.advance(seconds=deps.config.wechat.scene_ttl_seconds + 1)
    assert "已过期" in await wx.event("o_late", "SCAN", token)


async def test_onboarding_scene_serves_many_workers(wx: FakeWechat, deps) -> None:
    token = (await create_scene(deps, "onboarding", {"enterprise_name": "示例厂"})).token
    first = await wx.event("o_w1", "subscribe", f"qrscene_{token}")
    second = await wx.event("o_w2", "subscribe", f"qrscene_{token}")
    assert "示例厂" in first and "示例厂" in second
    assert (await scene_status(deps, token)).scans == 2


async def test_pc_login_scan_by_unbound_user_asks_to_bind(wx: FakeWechat, deps) -> None:
    token = (await create_scene(deps, "pc_login", {})).token
    assert "需要先绑定账号" in await wx.event("o_nobody", "SCAN", token)


async def test_unknown_scene_token_gets_an_answer(wx: FakeWechat) -> None:
    assert "二维码无效" in await wx.event("o_unknown", "SCAN", "s-no-such-token")


async def test_scene_payload_path_overrides_the_default_page(wx: FakeWechat, deps) -> None:
    await _bound(deps, "o_pad")
    token = (await create_scene(deps, "signature_pad", {"path": "/pad/abc123"})).token
    assert "/pad/abc123" in await wx.event("o_pad", "SCAN", token)
