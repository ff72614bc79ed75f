"""PC QR login (A2): the PC shows a code, a logged-in phone confirms, the PC logs in."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from core.context import RequestMeta
from core.wechat.accounts import bind_openid
from handlers.app import init_app
from storage.models import AuditEntry, QrLogin
from tests.bot.wx import FakeWechat
from tests.factories import login_as, make_user


def _csrf(html: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', html).group(1)


class Pc:
    """The PC browser: opens the QR page and later trades the code for a session."""

    def __init__(self, client) -> None:
        self.client = client
        self.token = ""
        self.scene = ""
        self.csrf = ""

    async def open(self, next_path: str = "/me") -> str:
        resp = await self.client.get("/login/qr", params={"next": next_path})
        html = await resp.text()
        assert resp.status == 200, html
        self.token = re.search(r'data-token="([^"]+)"', html).group(1)
        scene = re.search(r'id="qr-scene">([^<]+)<', html)
        self.scene = scene.group(1) if scene else ""
        self.csrf = _csrf(html)
        return html

    async def status(self) -> tuple[int, dict]:
        resp = await self.client.get("/login/qr/status", params={"t": self.token})
        return resp.status, await resp.json()

    async def exchange(self):
        return await self.client.post(
            "/login/qr/exchange",
            data={"_csrf": self.csrf, "t": self.token, "next": "/me"},
            allow_redirects=False,
        )


@pytest.fixture
async def phone(aiohttp_client, config, deps):
    """A second browser, logged in as an active user."""
    other = await aiohttp_client(init_app(config, deps=deps, run_workers=False))
    user = await make_user(deps)
    logged = await login_as(deps, user)
    other.session.cookie_jar.update_cookies({"ls_session": logged.session.token})
    other.user = user
    return other


async def _confirm(phone, query: dict[str, str], action: str = "approve"):
    page = await phone.get("/login/qr/confirm", params=query)
    html = await page.text()
    if page.status != 200:
        return page.status, html
    resp = await phone.post("/login/qr/confirm",
                            data={"_csrf": _csrf(html), **query, "action": action})
    return resp.status, await resp.text()


async def test_pc_logs_in_after_the_phone_confirms(client, phone, deps) -> None:
    pc = Pc(client)
    html = await pc.open("/me")
    assert "<svg" in html and "/login/qr/confirm?t=" in html
    assert (await pc.status())[1]["state"] == "pending"
    page = await phone.get("/login/qr/confirm", params={"t": pc.token})
    assert "确认登录电脑端" in await page.text()
    assert (await pc.status())[1]["state"] == "scanned"
    status, text = await _confirm(phone, {"t": pc.token})
    assert status == 200 and "已确认" in text
    assert (await pc.status())[1]["state"] == "confirmed"
    resp = await pc.exchange()
    assert resp.status == 303 and resp.headers["Location"] == "/me"
    assert "ls_session" in resp.cookies
    me = await client.get("/me", allow_redirects=False)
    assert me.status == 200 and "个人资料" in await me.text()
    async with deps.db.sessions() as s:
        actions = (await s.execute(select(AuditEntry.action, AuditEntry.actor_id))).all()
    assert ("session.qr_confirm", phone.user.id) in actions
    assert ("user.login", phone.user.id) in actions


async def test_a_code_logs_in_only_once(client, phone) -> None:
    pc = Pc(client)
    await pc.open()
    await _confirm(phone, {"t": pc.token})
    assert (await pc.exchange()).status == 303
    again = await pc.exchange()
    assert again.status == 409 and "已被使用" in await again.text()
    status, text = await _confirm(phone, {"t": pc.token})
    assert status == 409 and "已被使用" in text


async def test_another_browser_cannot_use_the_code(client, phone, aiohttp_client, config,
                                                   deps) -> None:
    pc = Pc(client)
    await pc.open()
    await _confirm(phone, {"t": pc.token})
    thief = Pc(await aiohttp_client(init_app(config, deps=deps, run_workers=False)))
    await thief.open()  # a page of its own gives it a CSRF token and a browser cookie
    thief.token = pc.token
    resp = await thief.exchange()
    assert resp.status == 403 and "显示二维码的电脑浏览器" in await resp.text()
    assert (await thief.status())[0] == 403
    assert (await pc.exchange()).status == 303  # the right browser still can


async def test_expired_code_is_refused_with_a_clear_message(client, phone, clock) -> None:
    pc = Pc(client)
    await pc.open()
    clock.advance(seconds=121)
    assert (await pc.status())[1] == {"state": "expired", "message": "二维码已过期，请刷新二维码"}
    status, text = await _confirm(phone, {"t": pc.token})
    assert status == 409 and "二维码已过期" in text


async def test_forged_code_is_refused(phone) -> None:
    status, text = await _confirm(phone, {"t": "forged-token-0123456789"})
    assert status == 404 and "二维码无效" in text


async def test_unconfirmed_code_does_not_log_in(client) -> None:
    pc = Pc(client)
    await pc.open()
    resp = await pc.exchange()
    assert resp.status == 409 and "尚未确认" in await resp.text()
    assert "ls_session" not in resp.cookies


async def test_phone_that_cancels_keeps_the_pc_out(client, phone) -> None:
    pc = Pc(client)
    await pc.open()
    status, text = await _confirm(phone, {"t": pc.token}, action="cancel")
    assert status == 200 and "已取消" in text
    assert (await pc.status())[1]["state"] == "cancelled"
    assert (await pc.exchange()).status == 409


async def test_confirm_page_sends_a_logged_out_phone_to_login(client, aiohttp_client, config,
                                                               deps) -> None:
    pc = Pc(client)
    await pc.open()
    anon = await aiohttp_client(init_app(config, deps=deps, run_workers=False))
    resp = await anon.get("/login/qr/confirm", params={"t": pc.token}, allow_redirects=False)
    assert resp.status == 303
    assert unquote(resp.headers["Location"]).startswith("/login?next=/login/qr/confirm?t=")


async def test_confirm_needs_csrf(client, phone) -> None:
    pc = Pc(client)
    await pc.open()
    resp = await phone.post("/login/qr/confirm", data={"t": pc.token, "action": "approve"})
    assert resp.status == 400 and "页面已过期" in await resp.text()
    assert (await pc.status())[1]["state"] == "pending"


async def test_wechat_scan_of_the_pc_login_scene_leads_to_the_confirm_page(
    client, phone, config, deps
) -> None:
    pc = Pc(client)
    await pc.open()
    assert pc.scene
    await bind_openid(deps, phone.user.id, "o_pc_admin", RequestMeta())
    reply = await FakeWechat(client, config).event("o_pc_admin", "SCAN", pc.scene)
    assert "确认登录" in reply and f"/login/qr/confirm%3Fscene%3D{pc.scene}" in reply
    assert (await pc.status())[1]["state"] == "scanned"
    status, _ = await _confirm(phone, {"scene": pc.scene})
    assert status == 200
    assert (await pc.exchange()).status == 303


async def test_only_hashes_of_the_code_are_stored(client, deps) -> None:
    pc = Pc(client)
    await pc.open()
    async with deps.db.sessions() as s:
        row = (await s.execute(select(QrLogin))).scalar_one()
    assert pc.token not in (row.token_hash, row.browser_hash)


async def test_opening_codes_is_rate_limited(client) -> None:
    for _ in range(20):
        assert (await client.get("/login/qr")).status == 200
    resp = await client.get("/login/qr")
    assert resp.status == 429 and "过于频繁" in await resp.text()


async def test_login_page_links_to_qr_login(client) -> None:
    html = await (await client.get("/login", params={"next": "/console"})).text()
    assert 'href="/login/qr?next=/console"' in html or 'href="/login/qr?next=%2Fconsole"' in html
