"""Pages get the browser layer (session, CSRF seed, security headers); the WeChat
webhook, a machine endpoint, skips it — but the H5 pages under /wechat/ do not."""

from __future__ import annotations

import logging

from core.config import Config
from handlers.csrf import CSRF_COOKIE
from tests.bot.wx import url_check


async def test_a_page_gets_security_headers_and_a_csrf_seed(client) -> None:
    resp = await client.get("/login")
    assert resp.status == 200
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert CSRF_COOKIE in resp.cookies


async def test_the_webhook_skips_the_browser_layer(client, config: Config) -> None:
    resp = await client.get("/wechat", params=url_check(config, "ok-1"))
    assert (resp.status, await resp.text()) == (200, "ok-1")
    assert "X-Frame-Options" not in resp.headers
    assert "Content-Security-Policy" not in resp.headers
    assert CSRF_COOKIE not in resp.cookies


async def test_h5_pages_under_wechat_keep_csrf(client) -> None:
    # /wechat/unbind is a browser form, not the webhook: no token, no change.
    resp = await client.post("/wechat/unbind", data={})
    assert resp.status == 400
    assert "页面已过期，请刷新后重试" in await resp.text()


def _request_lines(caplog) -> list[tuple[int, str, int]]:
    return [(r.levelno, r.path, r.status) for r in caplog.records
            if r.name == "laborsign.http" and r.getMessage() == "request"]


async def test_request_log_skips_routine_webhook_deliveries_only(
    client, config: Config, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="laborsign.http")
    good = url_check(config, "ok-2")
    assert (await client.get("/wechat", params=good)).status == 200
    assert (await client.get("/wechat", params={**good, "signature": "0" * 40})).status == 403
    assert (await client.get("/login")).status == 200
    assert _request_lines(caplog) == [
        (logging.INFO, "/wechat", 403),
        (logging.INFO, "/login", 200),
    ]
