"""Messages we push to WeChat users, always through the outbox (retried, recorded).

- Customer-service text: the follow-up when a reply missed WeChat's 5-second window.
- Notifications (PRODUCT D3): template messages with the H5 link; SMS (template
  "notice") when the user has no bound WeChat, no template is configured for the event,
  or WeChat refuses (unfollowed, blocked). The outbox row of the notification and,
  when it happens, the row of the SMS fallback are the record of what was sent.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from core import outbox
from core.context import Deps
from core.ports import Notification, NotificationRefused, Notifier, WechatApiError
from core.sms import queue_sms
from core.wechat.accounts import api, openid_for_user
from core.wechat.credentials import with_token
from storage.models import OutboxMessage, User, WechatBinding
from storage.uow import Tx

log = logging.getLogger(__name__)

CUSTOM_KIND = "wechat.custom"
NOTIFY_KIND = "notify.send"
EVENTS = ("to_sign", "urged", "completed", "review_result")
# errcodes meaning "this user cannot be reached by WeChat": fall back to SMS.
UNREACHABLE = frozenset({40003, 40037, 43004, 43101, 43019})


async def queue_custom_text(deps: Deps, openid: str, text: str, dedupe_key: str | None = None
                            ) -> None:
    async with deps.db.transaction() as tx:
        await outbox.enqueue(
            tx, CUSTOM_KIND, {"openid": openid, "text": text}, now=deps.clock.now(),
            dedupe_key=dedupe_key, wakeup=deps.outbox_wakeup,
        )


async def deliver_custom_text(deps: Deps, msg: OutboxMessage) -> None:
    payload = msg.payload
    await with_token(
        deps, lambda token: api(deps).send_custom_text(token, payload["openid"], payload["text"])
    )


async def queue_notification(
    tx: Tx, deps: Deps, user_id: str, event: str, *, title: str, text: str, link: str,
    dedupe_key: str | None = None,
) -> None:
    """Call inside the service's transaction: nothing is sent if it rolls back."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    await outbox.enqueue(
        tx, NOTIFY_KIND,
        {"user_id": user_id, "event": event, "title": title, "text": text, "link": link},
        now=deps.clock.now(), dedupe_key=dedupe_key, wakeup=deps.outbox_wakeup,
    )


async def notify_person(
    tx: Tx, deps: Deps, *, phone: str | None, user_id: str | None, event: str, title: str,
    text: str, link: str, dedupe_key: str,
) -> None:
    """Tell one person something with a link: a WeChat template message when their account
    is bound (SMS if WeChat refuses, see deliver_notification), else an SMS."""
    if user_id is not None:
        bound = (
            await tx.session.execute(
                select(WechatBinding.id).where(WechatBinding.user_id == user_id).limit(1)
            )
        ).scalar_one_or_none()
        if bound is not None:
            await queue_notification(tx, deps, user_id, event, title=title, text=text,
                                     link=link, dedupe_key=f"wx:{dedupe_key}")
            return
    if phone:
        await queue_sms(tx, deps, phone, "notice", {"text": f"{text} {link}"},
                        dedupe_key=f"sms:{dedupe_key}")


class WechatTemplateNotifier:
    """Notifier port over template messages (template ids in [wechat] template_*)."""

    name = "wechat_template"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def template_id(self, event: str) -> str:
        return getattr(self.deps.config.wechat, f"template_{event}", "")

    async def send(self, notification: Notification) -> str:
        template_id = self.template_id(notification.event)
        if not template_id:
            raise NotificationRefused(f"no template configured for {notification.event}")
        openid = await openid_for_user(self.deps, notification.user_id)
        if openid is None:
            raise NotificationRefused("no bound WeChat")
        data = {"first": notification.title, "keyword1": notification.text,
                "remark": "点击查看详情"}
        try:
            return await with_token(
                self.deps,
                lambda token: api(self.deps).send_template(
                    token, openid, template_id, notification.link, data
                ),
            )
        except WechatApiError as exc:
            if exc.errcode in UNREACHABLE:
                raise NotificationRefused(f"wechat refused: {exc.errcode}") from exc
            raise


def notifier(deps: Deps) -> Notifier:
    return deps.notifier or WechatTemplateNotifier(deps)


async def deliver_notification(deps: Deps, msg: OutboxMessage) -> None:
    p = msg.payload
    note = Notification(p["user_id"], p["event"], p["title"], p["text"], p["link"])
    try:
        await notifier(deps).send(note)
        return
    except NotificationRefused as exc:
        log.info("notification falls back to sms", extra={"id": msg.id, "reason": str(exc)})
    async with deps.db.transaction() as tx:
        phone = (
            await tx.session.execute(select(User.phone).where(User.id == note.user_id))
        ).scalar_one_or_none()
        if phone is None:
            return
        await queue_sms(
            tx, deps, phone, "notice", {"text": f"{note.title}：{note.text} {note.link}"},
            dedupe_key=f"notify-sms:{msg.id}",
        )
