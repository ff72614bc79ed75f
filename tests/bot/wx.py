"""A fake WeChat server for tests: builds, signs (and encrypts) what WeChat would post."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from core.config import Config
from core.wechat.protocol import (
    decrypt_any,
    encrypt,
    parse_xml,
    render_xml,
    settings,
    signature,
)

_ids = itertools.count(1_000_000)
_times = itertools.count(1_700_000_000)


@dataclass
class Answer:
    status: int
    body: str
    content: str  # the reply's Content ('' for success)


def url_check(config: Config, echostr: str, *, timestamp: str = "1700000000",
              nonce: str = "42") -> dict[str, str]:
    """The query of WeChat's URL verification (GET /wechat), correctly signed."""
    return {"timestamp": timestamp, "nonce": nonce, "echostr": echostr,
            "signature": signature(settings(config).token, timestamp, nonce)}


class FakeWechat:
    def __init__(self, client, config: Config) -> None:
        self.client = client
        self.s = settings(config)

    def message(self, openid: str, **fields: str | int) -> str:
        base: dict[str, str | int] = {
            "ToUserName": "gh_test", "FromUserName": openid, "CreateTime": next(_times),
        }
        return render_xml({**base, **fields})

    async def post(
        self, body: str | bytes, *, encrypted: bool = False, key: str | None = None,
        good_signature: bool = True, timestamp: str = "1409659813", nonce: str = "1372623149",
    ) -> Answer:
        raw = body.encode() if isinstance(body, str) else body
        params = {"timestamp": timestamp, "nonce": nonce, "openid": "x",
                  "signature": signature(self.s.token, timestamp, nonce)}
        if not good_signature:
            params["signature"] = "0" * 40
        if encrypted:
            cipher = encrypt(raw.decode(), key or self.s.aes_keys[0], self.s.app_id)
            params["encrypt_type"] = "aes"
            params["msg_signature"] = signature(self.s.token, timestamp, nonce, cipher)
            raw = render_xml({"ToUserName": "gh_test", "Encrypt": cipher}).encode()
        resp = await self.client.post("/wechat", params=params, data=raw,
                                      headers={"Content-Type": "text/xml"})
        text = await resp.text()
        content = ""
        if resp.status == 200 and text != "success":
            fields = parse_xml(text)
            if "Encrypt" in fields:
                fields = parse_xml(decrypt_any(fields["Encrypt"], self.s.aes_keys, self.s.app_id))
            content = fields.get("Content", "")
        return Answer(resp.status, text, content)

    async def say(self, openid: str, text: str, *, msg_id: int | None = None) -> str:
        xml = self.message(openid, MsgType="text", Content=text, MsgId=msg_id or next(_ids))
        answer = await self.post(xml)
        assert answer.status == 200, answer.body
        return answer.content

    async def event(self, openid: str, event: str, key: str = "", **extra: str | int) -> str:
        xml = self.message(openid, MsgType="event", Event=event, EventKey=key, **extra)
        answer = await self.post(xml)
        assert answer.status == 200, answer.body
        return answer.content
