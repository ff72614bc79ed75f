"""The dev chat simulator's engine: it plays WeChat's servers.

It builds the XML WeChat would send for a fake user, signs it (and encrypts it in safe
mode) with the configured — or dev default — token and key, posts it to the real
/wechat webhook over loopback HTTP, and decodes the reply. Dev mode only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import select

from core.context import Deps
from core.errors import InvalidInput, PermissionDenied, ProviderUnavailable
from core.wechat.accounts import DEV_CODE_PURPOSE, sign_value
from core.wechat.protocol import (
    ProtocolError,
    decrypt_any,
    encrypt,
    parse_xml,
    render_xml,
    settings,
    signature,
)
from storage.models import ConsoleWechatMessage, WechatConversation

ACTIONS = ("text", "subscribe", "unsubscribe", "click", "scan")


@dataclass(frozen=True)
class SimReply:
    status: int
    # The text reply ('' when the bot answered "success").
    text: str
    encrypted: bool


def inbound_xml(
    app_id: str, openid: str, action: str, value: str, create_time: int, msg_id: int,
    *, subscribed_before: bool = False,
) -> str:
    base: dict[str, str | int] = {
        "ToUserName": "gh_laborsign_dev", "FromUserName": openid, "CreateTime": create_time,
    }
    if action == "text":
        return render_xml({**base, "MsgType": "text", "Content": value, "MsgId": msg_id})
    if action == "subscribe":
        return render_xml({**base, "MsgType": "event", "Event": "subscribe", "EventKey": ""})
    if action == "unsubscribe":
        return render_xml({**base, "MsgType": "event", "Event": "unsubscribe", "EventKey": ""})
    if action == "click":
        return render_xml({**base, "MsgType": "event", "Event": "CLICK", "EventKey": value})
    if action == "scan":
        if subscribed_before:
            return render_xml(
                {**base, "MsgType": "event", "Event": "SCAN", "EventKey": value, "Ticket": "dev"}
            )
        return render_xml(
            {**base, "MsgType": "event", "Event": "subscribe", "EventKey": f"qrscene_{value}",
             "Ticket": "dev"}
        )
    raise InvalidInput("未知的模拟操作", code="sim_action")


async def send(
    deps: Deps, webhook_url: str, openid: str, action: str, value: str = "",
    *, encrypted: bool = False, subscribed_before: bool | None = None,
) -> SimReply:
    if not deps.config.server.dev_mode:
        raise PermissionDenied()
    if action not in ACTIONS:
        raise InvalidInput("未知的模拟操作", code="sim_action")
    openid = openid.strip()
    if not openid or len(openid) > 64 or not all(c.isalnum() or c in "-_" for c in openid):
        raise InvalidInput("openid 只能包含字母、数字、- 和 _", code="sim_openid")
    if len(value) > 600:
        raise InvalidInput("消息过长", code="sim_value")
    if subscribed_before is None:
        async with deps.db.sessions() as session:
            row = await session.get(WechatConversation, openid)
        subscribed_before = bool(row and row.subscribed)
    s = settings(deps.config)
    now = int(deps.clock.now().timestamp())
    xml = inbound_xml(
        s.app_id, openid, action, value, now, secrets.randbelow(2**62),
        subscribed_before=subscribed_before,
    )
    timestamp, nonce = str(now), str(secrets.randbelow(10**9))
    params = {"timestamp": timestamp, "nonce": nonce, "openid": openid,
              "signature": signature(s.token, timestamp, nonce)}
    if encrypted:
        cipher = encrypt(xml, s.aes_keys[0], s.app_id)
        params["encrypt_type"] = "aes"
        params["msg_signature"] = signature(s.token, timestamp, nonce, cipher)
        body = render_xml({"ToUserName": "gh_laborsign_dev", "Encrypt": cipher})
    else:
        body = xml
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.post(
                webhook_url, params=params, data=body.encode(),
                headers={"Content-Type": "text/xml"},
            ) as resp,
        ):
            status, answer = resp.status, await resp.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ProviderUnavailable(f"无法连接 webhook：{type(exc).__name__}") from None
    return SimReply(status, _reply_text(deps, answer, encrypted) if status == 200 else answer,
                    encrypted)


def _reply_text(deps: Deps, answer: str, encrypted: bool) -> str:
    if not answer or answer == "success":
        return ""
    try:
        fields = parse_xml(answer)
        if encrypted:
            s = settings(deps.config)
            fields = parse_xml(decrypt_any(fields["Encrypt"], s.aes_keys, s.app_id))
    except (ProtocolError, KeyError):
        return answer
    return fields.get("Content", "")


async def console_messages(deps: Deps, openid: str, limit: int = 50) -> list[dict[str, Any]]:
    """Custom and template messages the console WeChat client 'sent' to this openid."""
    async with deps.db.sessions() as session:
        rows = (
            await session.execute(
                select(ConsoleWechatMessage)
                .where(ConsoleWechatMessage.openid == openid)
                .order_by(ConsoleWechatMessage.sent_at.desc(), ConsoleWechatMessage.id)
                .limit(limit)
            )
        ).scalars().all()
    return [
        {"id": r.id, "kind": r.kind, "text": r.text, "url": (r.body or {}).get("url"),
         "sent_at": r.sent_at.isoformat()}
        for r in reversed(rows)
    ]


def dev_oauth_code(deps: Deps, openid: str) -> str:
    """The ?code= the dev authorize page hands back (the console client redeems it)."""
    if not deps.config.server.dev_mode:
        raise PermissionDenied()
    now = int(deps.clock.now().timestamp())
    return sign_value(deps.config, DEV_CODE_PURPOSE, openid, 300, now)
