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

from aiohttp import web

from bot.dispatch import answer, change_of
from bot.flows.base import Conversation
from bot.messages import Inbound
from core.context import Deps
from core.wechat.inbox import Inbox
from core.wechat.notify import queue_custom_text
from core.wechat.protocol import (
    MAX_FIELD_CHARS,
    MAX_MESSAGE_BYTES,
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

    async def receive(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        q = request.query
        try:
            body = await self._read_body(request)
            self._check_url_signature(request)
            safe = q.get("encrypt_type", "raw").lower() == "aes"
            # Safe mode: the envelope's Encrypt field may fill the body; the limits on a
            # message's fields apply to the decrypted message.
            fields = parse_xml(body, self.max_bytes,
                               max_field_chars=self.max_bytes if safe else MAX_FIELD_CHARS)
            if safe:
                cipher = fields.get("Encrypt", "")
                check_signature(
                    (q.get("timestamp", ""), q.get("nonce", ""), cipher),
                    self.settings.token, q.get("msg_signature"),
                )
                plain = decrypt_any(cipher, self.settings.aes_keys, self.settings.app_id)
                fields = parse_xml(plain.encode(), MAX_MESSAGE_BYTES)
            msg = Inbound.from_fields(fields)
        except ProtocolError as exc:
            log.info("wechat request refused", extra={"reason": exc.reason, "status": exc.status})
            return _text("forbidden" if exc.status == 403 else "bad request", exc.status)
        early = EarlySuccess(request, self.budget)
        try:
            reply = await self._answer_once(msg, early)
        except Exception:
            # WeChat shows "该公众号暂时无法提供服务" on errors; "success" is quieter.
            log.exception("wechat message failed", extra={"key": msg.dedupe_key})
            reply = None
        sent = await early.settle()
        if sent is not None:
            return sent
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

    async def _answer_once(self, msg: Inbound, early: EarlySuccess) -> str | None:
        """Claim the message (one retry → the stored reply), answer, store the reply.

        Two group-committed steps per message (core.wechat.inbox.Inbox): the claim also
        applies what the event changes and reads the conversation and the bound account,
        the finish stores the reply with the conversation's new state. An answer that
        missed the budget (WeChat already has "success") goes out as a customer-service
        message, and retries get "success" too.
        """
        key = msg.dedupe_key
        turn = await self.inbox.begin(key, msg.openid, change_of(msg))
        if not turn.fresh:
            return turn.reply or None
        conv = Conversation(msg.openid, turn.conversation)
        try:
            reply = await answer(self.deps, msg, conv, turn.user)
        except BaseException:
            early.disarm()
            await self.inbox.finish(key, msg.openid, None)
            raise
        state = conv.state if conv.changed else None
        if not early.disarm():
            await self.inbox.finish(key, msg.openid, reply, state)
            return reply
        await self.inbox.finish(key, msg.openid, None, state)
        if reply:
            await queue_custom_text(self.deps, msg.openid, reply, dedupe_key=f"late:{key}")
        return None


class EarlySuccess:
    """Answers WeChat with "success" when the reply is not ready within the budget.

    WeChat waits 5 seconds for a reply, then retries. A timer guards the budget rather
    than a task per message: nearly every answer is ready at once, and a task plus
    asyncio.wait for each message cost about a tenth of the webhook's throughput
    (docs/benchmarks.md). When the timer fires, "success" is written to WeChat while the
    answer goes on in the request's own coroutine; the handler then returns that same,
    already sent, response. A budget of 0 answers every message later (tests use it).
    """

    def __init__(self, request: web.Request, budget: float) -> None:
        self.request = request
        self.response: web.Response | None = None
        self._sending: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        if budget > 0:
            self._timer = asyncio.get_running_loop().call_later(budget, self._fire)
        else:
            self._fire()

    def _fire(self) -> None:
        self._timer = None
        self.response = _text(SUCCESS)
        self._sending = asyncio.get_running_loop().create_task(self._send(self.response))

    async def _send(self, response: web.Response) -> None:
        await response.prepare(self.request)
        await response.write_eof()

    def disarm(self) -> bool:
        """Stop the timer; True when "success" has already gone out."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return self.response is not None

    async def settle(self) -> web.StreamResponse | None:
        """The response already sent (once fully written), or None."""
        self.disarm()
        if self._sending is not None:
            try:
                await self._sending
            except Exception:  # WeChat hung up: nothing more to send, and no 500 either
                log.info("early success not delivered", exc_info=True)
        return self.response


def install(app: web.Application, deps: Deps) -> Webhook:
    """Mount GET/POST /wechat (called by the composition root)."""
    hook = Webhook(deps)
    app.router.add_get("/wechat", hook.verify)
    app.router.add_post("/wechat", hook.receive)
    return hook
