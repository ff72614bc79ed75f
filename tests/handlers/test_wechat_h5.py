"""OAuth inside WeChat, binding, unbinding, WeChat login, and the dev chat simulator."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from core.context import RequestMeta
from core.wechat.accounts import bind_openid, openid_for_user
from handlers.app import build_deps, init_app
from storage.models import UserSession
from tests.factories import login_as, make_user


async def _oauth(client, openid: str, next_path: str = "/wechat/bind"):
    """start → dev authorize (as `openid`) → callback; returns the callback response."""
    start = await client.get("/wechat/oauth/start", params={"next": next_path},
                             allow_redirects=False)
    assert start.status == 302
    authorize = start.headers["Location"]
    assert authorize.startswith("/dev/wechat/authorize?")
    auth = await client.get(authorize + f"&openid={openid}", allow_redirects=False)
    assert auth.status == 302
    return await client.get(auth.headers["Location"], allow_redirects=False)


def _csrf(html: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', html).group(1)


async def _login_cookie(client, deps, user) -> None:
    logged = await login_as(deps, user)
    client.session.cookie_jar.update_cookies({"ls_session": logged.session.token})


async def test_oauth_state_mismatch_is_rejected(client) -> None:
    start = await client.get("/wechat/oauth/start", params={"next": "/me"},
                             allow_redirects=False)
    q = parse_qs(urlsplit(start.headers["Location"]).query)
    resp = await client.get("/wechat/oauth/callback",
                            params={"code": "x", "state": q["state"][0] + "tampered"},
                            allow_redirects=False)
    assert resp.status == 403


async def test_oauth_callback_without_state_cookie_is_rejected(client, aiohttp_client, config,
                                                               deps) -> None:
    start = await client.get("/wechat/oauth/start", allow_redirects=False)
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    other = await aiohttp_client(init_app(config, deps=deps, run_workers=False))
    resp = await other.get("/wechat/oauth/callback", params={"code": "x", "state": state},
                           allow_redirects=False)
    assert resp.status == 403


async def test_unbound_openid_is_bound_right_after_login_without_a_confirm_page(
    client, deps
) -> None:
    callback = await _oauth(client, "o_newbie", "/login?next=/wechat/bind")
    assert callback.status == 303 and callback.headers["Location"] == "/login?next=/wechat/bind"
    user = await make_user(deps)
    await _login_cookie(client, deps, user)
    # The welcome promises "自动绑定": landing on the bind page after log-in binds.
    page = await client.get("/wechat/bind")
    html = await page.text()
    assert page.status == 200 and "绑定成功" in html and 'id="bind-confirm"' not in html
    assert await openid_for_user(deps, user.id) == "o_newbie"
    assert page.cookies["ls_wx_openid"].value == ""  # the remembered openid is used up


async def test_replacing_another_wechat_still_asks_to_confirm(client, deps) -> None:
    user = await make_user(deps)
    await bind_openid(deps, user.id, "o_old_phone", RequestMeta())
    await _oauth(client, "o_new_phone")
    await _login_cookie(client, deps, user)
    html = await (await client.get("/wechat/bind")).text()
    assert 'id="bind-confirm"' in html and "确认后将改为绑定当前微信" in html
    assert await openid_for_user(deps, user.id) == "o_old_phone"
    done = await client.post("/wechat/bind", data={"_csrf": _csrf(html)})
    assert done.status == 200 and await openid_for_user(deps, user.id) == "o_new_phone"


async def test_bind_without_csrf_token_is_refused(client, deps) -> None:
    await _oauth(client, "o_csrf")
    user = await make_user(deps)
    await _login_cookie(client, deps, user)
    resp = await client.post("/wechat/bind", data={})
    assert resp.status == 400 and await openid_for_user(deps, user.id) is None


async def test_bind_page_offers_login_and_register_when_logged_out(client) -> None:
    await _oauth(client, "o_out")
    html = await (await client.get("/wechat/bind")).text()
    assert 'href="/login?next=/wechat/bind"' in html
    assert 'href="/register?next=/wechat/bind"' in html


async def test_openid_bound_to_another_account_cannot_be_taken(client, deps) -> None:
    owner = await make_user(deps)
    await bind_openid(deps, owner.id, "o_taken", RequestMeta())
    intruder = await make_user(deps)
    await _login_cookie(client, deps, intruder)
    # A bound openid logs its owner in on OAuth; forge the 'remembered openid' instead.
    from core.wechat.accounts import openid_cookie_for

    client.session.cookie_jar.update_cookies({"ls_wx_openid": openid_cookie_for(deps, "o_taken")})
    page = await client.get("/wechat/bind")
    html = await page.text()
    assert page.status == 409 and "该微信已绑定其他账号" in html
    resp = await client.post("/wechat/bind", data={"_csrf": _csrf(html)})
    assert resp.status == 409 and await openid_for_user(deps, intruder.id) is None


async def test_bound_openid_logs_straight_in(client, deps) -> None:
    user = await make_user(deps)
    await bind_openid(deps, user.id, "o_bound", RequestMeta())
    callback = await _oauth(client, "o_bound", "/me")
    assert callback.status == 303 and callback.headers["Location"] == "/me"
    assert "ls_session" in callback.cookies
    async with deps.db.sessions() as s:
        methods = (await s.execute(select(UserSession.method)
                                   .where(UserSession.user_id == user.id))).scalars().all()
    assert methods == ["wechat"]


async def test_oauth_next_cannot_leave_the_site(client, deps) -> None:
    user = await make_user(deps)
    await bind_openid(deps, user.id, "o_redirect", RequestMeta())
    callback = await _oauth(client, "o_redirect", "//evil.example/steal")
    assert callback.headers["Location"] == "/"


async def test_unbind_from_the_profile_removes_the_binding(client, deps) -> None:
    user = await make_user(deps)
    await bind_openid(deps, user.id, "o_unbind", RequestMeta())
    await _login_cookie(client, deps, user)
    html = await (await client.get("/wechat/bind")).text()
    assert 'id="wechat-unbind"' in html
    resp = await client.post("/wechat/unbind", data={"_csrf": _csrf(html)},
                             allow_redirects=False)
    assert resp.status == 303 and await openid_for_user(deps, user.id) is None


async def test_unbind_requires_login(client) -> None:
    token = await _sim_csrf(client)
    resp = await client.post("/wechat/unbind", data={"_csrf": token})
    assert resp.status == 401


async def test_jssdk_endpoint_signs_our_pages(client, config) -> None:
    resp = await client.get("/wechat/jssdk", params={"url": config.server.base_url + "/me#x"})
    body = await resp.json()
    assert resp.status == 200 and set(body) == {"appId", "timestamp", "nonceStr", "signature"}


async def test_jssdk_endpoint_refuses_other_sites(client) -> None:
    resp = await client.get("/wechat/jssdk", params={"url": "https://evil.example/"})
    assert resp.status == 400


async def _sim_csrf(client) -> str:
    html = await (await client.get("/dev/wechat")).text()
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


async def test_simulator_page_has_targetable_controls(client) -> None:
    html = await (await client.get("/dev/wechat")).text()
    for element in ("sim-openid", "sim-follow", "sim-text", "sim-send", "sim-chat", "sim-menu",
                    "sim-scan", "sim-encrypted"):
        assert f'id="{element}"' in html
    assert 'data-key="MENU_TO_SIGN"' in html and "<script>" not in html


async def test_simulator_follow_reaches_the_real_webhook(client) -> None:
    token = await _sim_csrf(client)
    resp = await client.post("/dev/api/wechat/send", headers={"X-CSRF-Token": token},
                             json={"openid": "o_sim", "action": "subscribe"})
    body = await resp.json()
    assert body["status"] == 200 and "欢迎关注" in body["reply"]


async def test_simulator_safe_mode_round_trip(client) -> None:
    token = await _sim_csrf(client)
    resp = await client.post("/dev/api/wechat/send", headers={"X-CSRF-Token": token},
                             json={"openid": "o_sim2", "action": "text", "value": "帮助",
                                   "encrypted": True})
    body = await resp.json()
    assert body["encrypted"] and "「合同」" in body["reply"]


async def test_simulator_onboarding_scene_is_a_certified_enterprises_poster(
    client, deps
) -> None:
    from tests.enterprise_factories import certified_enterprise

    token = await _sim_csrf(client)
    headers = {"X-CSRF-Token": token}
    refused = await client.post("/dev/api/wechat/scene", headers=headers,
                                json={"kind": "onboarding"})
    assert refused.status == 409
    assert (await refused.json())["error"]["code"] == "no_certified_enterprise"

    await certified_enterprise(deps, name="模拟制造有限公司")
    scene = await (await client.post("/dev/api/wechat/scene", headers=headers,
                                     json={"kind": "onboarding"})).json()
    body = await (await client.post("/dev/api/wechat/send", headers=headers,
                                    json={"openid": "o_sim3", "action": "scan",
                                          "value": scene["token"]})).json()
    assert "您正在加入「模拟制造有限公司」的入职登记" in body["reply"]
    assert "onboarding" in body["reply"] and scene["token"] in body["reply"]


async def test_simulator_send_needs_csrf(client) -> None:
    await client.get("/dev/wechat")
    resp = await client.post("/dev/api/wechat/send", json={"openid": "o", "action": "text"})
    assert resp.status in (400, 403)


async def test_simulator_is_absent_outside_dev_mode(aiohttp_client, config, clock) -> None:
    cfg = config.replace(server={"dev_mode": False})
    deps = build_deps(cfg, clock=clock)
    client = await aiohttp_client(init_app(cfg, deps=deps, run_workers=False))
    assert (await client.get("/dev/wechat")).status == 404
    await deps.db.dispose()


async def test_dev_authorize_refuses_foreign_redirects(client) -> None:
    resp = await client.get("/dev/wechat/authorize",
                            params={"redirect_uri": "https://evil.example/wechat/oauth/callback",
                                    "state": "s", "openid": "o"}, allow_redirects=False)
    assert resp.status == 400
