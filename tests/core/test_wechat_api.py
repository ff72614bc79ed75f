"""The WeChat API client against a local fake WeChat server, the shared access token,
JS-SDK signatures, template notifications with SMS fallback, and the menu push."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from core.context import RequestMeta
from core.devtools import sms_inbox
from core.ports import WechatApiError
from core.wechat.accounts import bind_openid
from core.wechat.credentials import access_token, jssdk_config, jssdk_signature, with_token
from core.wechat.menu import push_menu
from core.wechat.notify import queue_notification
from handlers.app import build_deps
from storage.models import ConsoleWechatMessage
from tests.factories import make_user


class FakeServer:
    """Counts calls; behaviour per test through attributes."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.bodies: dict[str, list[Any]] = {}
        self.token_delay = 0.05
        self.tokens = iter(f"token-{i}" for i in range(1, 100))
        self.invalid: set[str] = set()
        self.template_errcode = 0
        self.slow = 0.0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self.stable_token)
        app.router.add_get("/cgi-bin/ticket/getticket", self.ticket)
        app.router.add_post("/cgi-bin/message/template/send", self.template)
        app.router.add_post("/cgi-bin/message/custom/send", self.custom)
        app.router.add_post("/cgi-bin/menu/create", self.menu)
        return app

    def count(self, name: str, body: Any = None) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        self.bodies.setdefault(name, []).append(body)

    async def stable_token(self, request: web.Request) -> web.Response:
        self.count("token", await request.json())
        await asyncio.sleep(self.token_delay)
        return web.json_response({"access_token": next(self.tokens), "expires_in": 7200})

    async def ticket(self, request: web.Request) -> web.Response:
        self.count("ticket")
        return web.json_response({"errcode": 0, "ticket": "tkt", "expires_in": 7200})

    async def template(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.count("template", body)
        if request.query["access_token"] in self.invalid:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if self.template_errcode:
            return web.json_response({"errcode": self.template_errcode, "errmsg": "refused"})
        return web.json_response({"errcode": 0, "msgid": 123})

    async def custom(self, request: web.Request) -> web.Response:
        self.count("custom", await request.json())
        await asyncio.sleep(self.slow)
        return web.json_response({"errcode": 0})

    async def menu(self, request: web.Request) -> web.Response:
        self.count("menu", await request.json())
        return web.json_response({"errcode": 0})


@pytest.fixture
async def fake(aiohttp_server) -> tuple[FakeServer, str]:
    server = FakeServer()
    running = await aiohttp_server(server.app())
    return server, str(running.make_url("")).rstrip("/")


@pytest.fixture
async def http_deps(config, clock, fake):
    _, url = fake
    cfg = config.replace(
        wechat={"client": "http", "api_base_url": url, "app_id": "wxtest", "app_secret": "s",
                "api_timeout_seconds": 0.5, "template_to_sign": "TPL_SIGN"}
    )
    deps = build_deps(cfg, clock=clock)
    yield deps
    await deps.db.dispose()


async def test_access_token_is_fetched_once_under_concurrency(http_deps, fake) -> None:
    server, _ = fake
    tokens = await asyncio.gather(*(access_token(http_deps) for _ in range(20)))
    assert set(tokens) == {"token-1"} and server.calls["token"] == 1


async def test_access_token_is_reused_until_near_expiry(http_deps, fake, clock) -> None:
    assert await access_token(http_deps) == "token-1"
    clock.advance(minutes=100)
    assert await access_token(http_deps) == "token-1"
    clock.advance(minutes=20)  # within the 5-minute margin of the 2 h lifetime
    assert await access_token(http_deps) == "token-2"


async def test_stable_token_request_carries_app_credentials(http_deps, fake) -> None:
    server, _ = fake
    await access_token(http_deps)
    body = server.bodies["token"][0]
    assert (body["grant_type"], body["appid"], body["force_refresh"]) == (
        "client_credential", "wxtest", False)


async def test_invalid_token_is_refreshed_and_the_call_retried_once(http_deps, fake) -> None:
    server, _ = fake
    server.invalid.add("token-1")
    api = http_deps.wechat_api
    msgid = await with_token(
        http_deps, lambda t: api.send_template(t, "o1", "TPL", "http://x", {"first": "a"})
    )
    assert msgid == "123" and server.calls["token"] == 2


async def test_every_call_has_a_timeout(http_deps, fake) -> None:
    server, _ = fake
    server.slow = 2.0
    api = http_deps.wechat_api
    with pytest.raises(WechatApiError) as caught:
        await api.send_custom_text("t", "o1", "hi")
    assert caught.value.errcode == -1


def test_jssdk_signature_matches_the_official_example() -> None:
    # From the JS-SDK documentation's signature example (附录1).
    ticket = ("sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fz"
              "Fy1AOcHKP7qg")
    sig = jssdk_signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457,
                          "http://mp.weixin.qq.com?params=value#section")
    assert sig == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


async def test_jssdk_ticket_is_cached(http_deps, fake) -> None:
    server, _ = fake
    base = http_deps.config.server.base_url
    first = await jssdk_config(http_deps, f"{base}/contracts#top")
    await jssdk_config(http_deps, f"{base}/me")
    assert server.calls["ticket"] == 1 and first["appId"] == "wxtest"


async def test_jssdk_refuses_foreign_pages(http_deps) -> None:
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        await jssdk_config(http_deps, "https://evil.example/page")


async def test_menu_push_sends_the_configured_menu(http_deps, fake) -> None:
    server, _ = fake
    await push_menu(http_deps)
    keys = {b["key"] for top in server.bodies["menu"][0]["button"]
            for b in top.get("sub_button") or [top]}
    assert keys == {"MENU_MY_CONTRACTS", "MENU_TO_SIGN", "MENU_IDENTITY", "MENU_SIGNATURE",
                    "MENU_HELP"}


async def _notify(deps, user_id: str, event: str = "to_sign") -> None:
    async with deps.db.transaction() as tx:
        await queue_notification(tx, deps, user_id, event, title="您有新的合同待签署",
                                 text="劳动合同（2026）", link="http://127.0.0.1:8080/c/1")


async def _drain(deps) -> None:
    from core.outbox import OutboxWorker
    from handlers.app import deliverers

    await OutboxWorker(deps, deliverers()).drain()


async def test_notification_to_bound_user_is_a_template_message(http_deps, fake) -> None:
    server, _ = fake
    user = await make_user(http_deps)
    await bind_openid(http_deps, user.id, "o_tpl", RequestMeta())
    await _notify(http_deps, user.id)
    await _drain(http_deps)
    body = server.bodies["template"][0]
    assert (body["touser"], body["template_id"], body["url"]) == (
        "o_tpl", "TPL_SIGN", "http://127.0.0.1:8080/c/1")
    assert await sms_inbox(http_deps, user.phone) == []


async def test_notification_falls_back_to_sms_when_wechat_refuses(http_deps, fake) -> None:
    server, _ = fake
    server.template_errcode = 43004  # the user unfollowed
    user = await make_user(http_deps)
    await bind_openid(http_deps, user.id, "o_gone", RequestMeta())
    await _notify(http_deps, user.id)
    await _drain(http_deps)
    [sms] = await sms_inbox(http_deps, user.phone)
    assert "您有新的合同待签署" in sms.text and "http://127.0.0.1:8080/c/1" in sms.text


async def test_notification_to_unbound_user_goes_by_sms(http_deps, fake) -> None:
    server, _ = fake
    user = await make_user(http_deps)
    await _notify(http_deps, user.id)
    await _drain(http_deps)
    assert len(await sms_inbox(http_deps, user.phone)) == 1 and "template" not in server.calls


async def test_notification_without_template_id_goes_by_sms(http_deps, fake) -> None:
    user = await make_user(http_deps)
    await bind_openid(http_deps, user.id, "o_nt", RequestMeta())
    await _notify(http_deps, user.id, event="completed")  # template_completed is empty
    await _drain(http_deps)
    assert len(await sms_inbox(http_deps, user.phone)) == 1


async def test_notify_person_uses_wechat_for_bound_users_and_sms_for_others(
    http_deps, fake
) -> None:
    from core.wechat.notify import notify_person

    server, _ = fake
    bound, unbound = await make_user(http_deps), await make_user(http_deps)
    await bind_openid(http_deps, bound.id, "o_np", RequestMeta())
    async with http_deps.db.transaction() as tx:
        for i, u in enumerate((bound, unbound)):
            await notify_person(tx, http_deps, phone=u.phone, user_id=u.id, event="to_sign",
                                title="合同待签署", text="请签署《劳动合同》",
                                link="http://127.0.0.1:8080/c/2", dedupe_key=f"np{i}")
    await _drain(http_deps)
    assert [b["touser"] for b in server.bodies["template"]] == ["o_np"]
    assert await sms_inbox(http_deps, bound.phone) == []
    [sms] = await sms_inbox(http_deps, unbound.phone)
    assert sms.text.endswith("请签署《劳动合同》 http://127.0.0.1:8080/c/2")


async def test_console_client_records_template_messages(deps, clock) -> None:
    cfg_deps = build_deps(deps.config.replace(wechat={"template_urged": "TPL_URGE"}), clock=clock)
    user = await make_user(cfg_deps)
    await bind_openid(cfg_deps, user.id, "o_console", RequestMeta())
    await _notify(cfg_deps, user.id, event="urged")
    await _drain(cfg_deps)
    async with cfg_deps.db.sessions() as s:
        rows = (await s.execute(select(ConsoleWechatMessage))).scalars().all()
    assert [(r.openid, r.kind, r.body["url"]) for r in rows] == [
        ("o_console", "template", "http://127.0.0.1:8080/c/1")]
    await cfg_deps.db.dispose()


async def test_rolled_back_notification_sends_nothing(http_deps, fake) -> None:
    user = await make_user(http_deps)
    with pytest.raises(RuntimeError):
        async with http_deps.db.transaction() as tx:
            await queue_notification(tx, http_deps, user.id, "to_sign", title="t", text="x",
                                     link="http://l")
            raise RuntimeError("service failed")
    await _drain(http_deps)
    assert await sms_inbox(http_deps, user.phone) == []
