"""Queue SMS through the outbox and deliver it through the SmsSender port."""

from __future__ import annotations

from core import outbox
from core.context import Deps
from core.ports import SmsMessage
from storage.models import OutboxMessage
from storage.uow import Tx

SMS_KIND = "sms.send"

# Texts as the user reads them; production templates must be registered with the
# provider with the same placeholders.
TEMPLATES = {
    "code": "【{sign}】您的验证码为 {code}，{minutes} 分钟内有效。请勿告诉他人。",
    "notice": "【{sign}】{text}",
}


def render_text(template: str, params: dict[str, str], sign: str) -> str:
    return TEMPLATES[template].format(sign=sign, **params)


async def queue_sms(
    tx: Tx,
    deps: Deps,
    phone: str,
    template: str,
    params: dict[str, str],
    *,
    sensitive: bool = False,
    dedupe_key: str | None = None,
) -> None:
    payload: dict[str, object] = {"phone": phone, "template": template, "params": params}
    if sensitive:
        # The worker replaces the params once delivered: no codes linger in the table.
        payload["sensitive"] = ["params"]
    # A person is waiting for a code: it has a queue of its own, ahead of everything.
    await outbox.enqueue(
        tx, SMS_KIND, payload, now=deps.clock.now(), dedupe_key=dedupe_key,
        queue="codes" if template == "code" else None, wakeup=deps.outbox_wakeup,
        direct=template == "code",
    )


async def deliver_sms(deps: Deps, msg: OutboxMessage) -> None:
    payload = msg.payload
    params = {str(k): str(v) for k, v in payload["params"].items()}
    text = render_text(payload["template"], params, deps.config.sms.sign_name)
    await deps.sms.send(SmsMessage(payload["phone"], payload["template"], params, text))
