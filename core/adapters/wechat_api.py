"""WeChat official-account API adapters behind the WechatApi port.

`HttpWechatApi` talks to api.weixin.qq.com with aiohttp (async, a timeout on every call;
the base URL is configurable, so tests run it against a local server). `ConsoleWechatApi`
is the dev adapter: the same calls, with messages written to the table the /dev/wechat
simulator reads and OAuth answered by the dev authorize page.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from core.clock import Clock
from core.config import Config
from core.ports import WechatApiError, WechatCredentialValue
from core.wechat.accounts import DEV_CODE_PURPOSE, sign_value, unsign_value
from core.wechat.protocol import settings
from storage.models import ConsoleWechatMessage
from storage.uow import Database

log = logging.getLogger("laborsign.wechat.api")


class HttpWechatApi:
    name = "http"

    def __init__(self, config: Config) -> None:
        w = config.wechat
        s = settings(config)
        self.app_id = s.app_id
        self.secret = s.app_secret
        self.base = w.api_base_url.rstrip("/")
        self.authorize_base = w.oauth_authorize_url
        self.timeout = aiohttp.ClientTimeout(total=w.api_timeout_seconds)

    async def _call(
        self, method: str, path: str, *, params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base}{path}"
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as http:
                data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
                async with http.request(
                    method, url, params=params, data=data,
                    headers={"Content-Type": "application/json"} if data else None,
                ) as resp:
                    text = await resp.text()
                    if resp.status != 200:
                        raise WechatApiError(-1, f"http {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WechatApiError(-1, f"{type(exc).__name__}") from exc
        try:
            result = json.loads(text)
        except ValueError:
            raise WechatApiError(-1, "response is not JSON") from None
        if not isinstance(result, dict):
            raise WechatApiError(-1, "response is not an object")
        code = int(result.get("errcode") or 0)
        if code:
            raise WechatApiError(code, str(result.get("errmsg", "")))
        return result

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = urlencode(
            {"appid": self.app_id, "redirect_uri": redirect_uri, "response_type": "code",
             "scope": "snsapi_base", "state": state},
            quote_via=quote,
        )
        return f"{self.authorize_base}?{query}#wechat_redirect"

    async def fetch_access_token(self) -> WechatCredentialValue:
        # stable_token: a fetch elsewhere does not invalidate the token we hold.
        r = await self._call(
            "POST", "/cgi-bin/stable_token",
            body={"grant_type": "client_credential", "appid": self.app_id,
                  "secret": self.secret, "force_refresh": False},
        )
        return WechatCredentialValue(str(r["access_token"]), int(r.get("expires_in", 7200)))

    async def fetch_jsapi_ticket(self, access_token: str) -> WechatCredentialValue:
        r = await self._call(
            "GET", "/cgi-bin/ticket/getticket",
            params={"access_token": access_token, "type": "jsapi"},
        )
        return WechatCredentialValue(str(r["ticket"]), int(r.get("expires_in", 7200)))

    async def exchange_oauth_code(self, code: str) -> str:
        r = await self._call(
            "GET", "/sns/oauth2/access_token",
            params={"appid": self.app_id, "secret": self.secret, "code": code,
                    "grant_type": "authorization_code"},
        )
        return str(r["openid"])

    async def send_custom_text(self, access_token: str, openid: str, text: str) -> None:
        await self._call(
            "POST", "/cgi-bin/message/custom/send", params={"access_token": access_token},
            body={"touser": openid, "msgtype": "text", "text": {"content": text}},
        )

    async def send_template(
        self, access_token: str, openid: str, template_id: str, url: str,
        data: dict[str, str],
    ) -> str:
        r = await self._call(
            "POST", "/cgi-bin/message/template/send", params={"access_token": access_token},
            body={"touser": openid, "template_id": template_id, "url": url,
                  "data": {k: {"value": v} for k, v in data.items()}},
        )
        return str(r.get("msgid", ""))

    async def create_menu(self, access_token: str, menu: dict[str, object]) -> None:
        await self._call(
            "POST", "/cgi-bin/menu/create", params={"access_token": access_token}, body=menu
        )

    async def create_qrcode(self, access_token: str, scene: str, expire_seconds: int) -> str:
        r = await self._call(
            "POST", "/cgi-bin/qrcode/create", params={"access_token": access_token},
            body={"expire_seconds": expire_seconds, "action_name": "QR_STR_SCENE",
                  "action_info": {"scene": {"scene_str": scene}}},
        )
        return str(r["ticket"])


class ConsoleWechatApi:
    """Dev mode: what would go to WeChat is recorded for the /dev/wechat simulator."""

    name = "console"

    def __init__(self, config: Config, db: Database, clock: Clock) -> None:
        self.config = config
        self.db = db
        self.clock = clock

    async def _record(self, openid: str, kind: str, text: str, body: dict[str, Any]) -> str:
        row = ConsoleWechatMessage(
            openid=openid, kind=kind, text=text, body=body, sent_at=self.clock.now()
        )
        async with self.db.transaction() as tx:
            tx.session.add(row)
        log.info("console wechat message", extra={"kind": kind, "msg_id": row.id})
        return row.id

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = urlencode({"redirect_uri": redirect_uri, "state": state}, quote_via=quote)
        return f"/dev/wechat/authorize?{query}"

    def dev_code(self, openid: str) -> str:
        """What the dev authorize page hands back as ?code= for this openid."""
        now = int(self.clock.now().timestamp())
        return sign_value(self.config, DEV_CODE_PURPOSE, openid, 300, now)

    async def fetch_access_token(self) -> WechatCredentialValue:
        return WechatCredentialValue("dev-access-token", 7200)

    async def fetch_jsapi_ticket(self, access_token: str) -> WechatCredentialValue:
        return WechatCredentialValue("dev-jsapi-ticket", 7200)

    async def exchange_oauth_code(self, code: str) -> str:
        now = int(self.clock.now().timestamp())
        openid = unsign_value(self.config, DEV_CODE_PURPOSE, code, now)
        if not isinstance(openid, str):
            raise WechatApiError(40029, "invalid code")
        return openid

    async def send_custom_text(self, access_token: str, openid: str, text: str) -> None:
        await self._record(openid, "custom", text, {"msgtype": "text"})

    async def send_template(
        self, access_token: str, openid: str, template_id: str, url: str,
        data: dict[str, str],
    ) -> str:
        text = "\n".join(v for v in data.values() if v)
        return await self._record(
            openid, "template", text, {"template_id": template_id, "url": url, "data": data}
        )

    async def create_menu(self, access_token: str, menu: dict[str, object]) -> None:
        log.info("console wechat menu", extra={"buttons": len(menu.get("button", []))})  # type: ignore[arg-type]

    async def create_qrcode(self, access_token: str, scene: str, expire_seconds: int) -> str:
        return f"dev-{scene}"
