"""The /wechat webhook (PRODUCT D1).

GET: URL verification. POST: a message or event in plaintext, compatible or safe (AES)
mode. Order of checks: size → signature → (decrypt) → hostile-XML guard → parse →
de-duplicate → answer. Anything wrong is answered with 4xx or "success" before it
reaches a flow; nothing here returns 500. An answer that takes longer than the reply
budget is sent later as a customer-service message, and WeChat gets "success" in time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from bot.dispatch import answer, change_of
from bot.flows.base import Conversation
from bot.messages import Inbound
from core.context import Deps
from core.wechat_inbox import Inbox, save_conversation
from core.wechat_notify import queue_custom_text
from core.wechat_protocol import (
    BadSignature,
    ProtocolError,
    WechatSettings,
    check_signature,
    decrypt_any,
    encrypt_reply,
    parse_xml,
    settings,
    text_reply,
)

log = logging.getLogger("laborsign.wechat")
SUCCESS = "success"


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/plain")


class Webhook:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.settings: WechatSettings = settings(deps.config)
        self.max_bytes = deps.config.wechat.max_body_bytes
        self.budget = deps.config.wechat.reply_budget_seconds
        self.inbox = Inbox(deps)
        # Tasks still running after their request answered (kept so they are not lost).
        self._late: set[asyncio.Task[Any]] = set()

    async def verify(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            self._check_url_signature(request)
        except BadSignature:
            return _text("forbidden", 403)
        echostr = q.get("echostr", "")
        if not echostr or len(echostr) > 512:
            return _text("bad request", 400)
        return _text(echostr)

    def _check_url_signature(self, request: web.Request) -> None:
        q = request.query
        if not self.settings.configured:
            raise BadSignature("wechat is not configured")
        check_signature(
            (q.get("timestamp", ""), q.get("nonce", "")), self.settings.token, q.get("signature")
        )

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None:
            if request.content_length > self.max_bytes:
                raise ProtocolError("body too large", status=413)
            return await request.read()
        body = await request.content.read(self.max_bytes + 1)
        if len(body) > self.max_bytes:
            raise ProtocolError("body too large", status=413)
        return body

    async def receive(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        q = request.query
        try:
            body = await self._read_body(request)
            self._check_url_signature(request)
            safe = q.get("encrypt_type", "raw").lower() == "aes"
            fields = parse_xml(body, self.max_bytes)
            if safe:
                cipher = fields.get("Encrypt", "")
                check_signature(
                    (q.get("timestamp", ""), q.get("nonce", ""), cipher),
                    self.settings.token, q.get("msg_signature"),
                )
                plain = decrypt_any(cipher, self.settings.aes_keys, self.settings.app_id)
                fields = parse_xml(plain.encode(), self.max_bytes)
            msg = Inbound.from_fields(fields)
        except ProtocolError as exc:
            log.info("wechat request refused", extra={"reason": exc.reason, "status": exc.status})
            return _text("forbidden" if exc.status == 403 else "bad request", exc.status)
        try:
            reply = await self._answer_once(msg)
        except Exception:
            # WeChat shows "该公众号暂时无法提供服务" on errors; "success" is quieter.
            log.exception("wechat message failed", extra={"key": msg.dedupe_key})
            return _text(SUCCESS)
        # The request line (middleware) already logs status and time; this is detail.
        log.debug(
            "wechat message",
            extra={"type": msg.msg_type, "event": msg.event,
                   "ms": round((time.perf_counter() - started) * 1000, 1)},
        )
        if not reply:
            return _text(SUCCESS)
        xml = text_reply(msg.openid, msg.to_user, reply, int(self.deps.clock.now().timestamp()))
        if safe:
            xml = encrypt_reply(xml, self.settings, q.get("timestamp", ""), q.get("nonce", ""))
        return web.Response(text=xml, content_type="application/xml")

    async def _answer_once(self, msg: Inbound) -> str | None:
        """Claim the message (one retry → the stored reply), answer, store the reply.

        Two group-committed steps per message (core.wechat_inbox.Inbox): the claim also
        applies what the event changes and reads the conversation and the bound account,
        the finish stores the reply with the conversation's new state.
        """
        key = msg.dedupe_key
        turn = await self.inbox.begin(key, msg.openid, change_of(msg))
        if not turn.fresh:
            return turn.reply or None
        conv = Conversation(msg.openid, turn.conversation)
        task = asyncio.create_task(answer(self.deps, msg, conv, turn.user))
        done: set[asyncio.Task[str | None]] = set()
        try:
            # A budget of 0 sends every answer later (how tests exercise that path).
            if self.budget > 0:
                done, _ = await asyncio.wait((task,), timeout=self.budget)
        except BaseException:
            await self.inbox.finish(key, msg.openid, None)
            raise
        if not done:
            # Too slow for WeChat's 5 s: answer "success" now, send the reply later.
            self._late.add(task)
            task.add_done_callback(lambda t: self._follow_up(t, msg, conv))
            await self.inbox.finish(key, msg.openid, None)
            return None
        try:
            reply = task.result()
        except Exception:
            await self.inbox.finish(key, msg.openid, None)
            raise
        await self.inbox.finish(key, msg.openid, reply, conv.state if conv.changed else None)
        return reply

    def _follow_up(self, task: asyncio.Task[str | None], msg: Inbound, conv: Conversation
                   ) -> None:
        self._late.discard(task)
        if task.cancelled() or task.exception() is not None:
            log.warning("late wechat answer failed", extra={"key": msg.dedupe_key})
            return
        follow = asyncio.get_running_loop().create_task(self._send_late(task.result(), msg, conv))
        self._late.add(follow)
        follow.add_done_callback(self._late.discard)

    async def _send_late(self, reply: str | None, msg: Inbound, conv: Conversation) -> None:
        if conv.changed:
            await save_conversation(self.deps, msg.openid, conv.state)
        if reply:
            await queue_custom_text(
                self.deps, msg.openid, reply, dedupe_key=f"late:{msg.dedupe_key}"
            )


def install(app: web.Application, deps: Deps) -> Webhook:
    """Mount GET/POST /wechat (called by the composition root)."""
    hook = Webhook(deps)
    app.router.add_get("/wechat", hook.verify)
    app.router.add_post("/wechat", hook.receive)
    return hook
