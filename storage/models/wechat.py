"""WeChat official account: bindings, retry de-duplication, conversation state, QR scenes,
the shared API credential cache and the dev record of outgoing WeChat messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, id_column


class WechatBinding(Base):
    """One openid (of our official account) belongs to at most one user, and vice versa."""

    __tablename__ = "wechat_bindings"

    id: Mapped[str] = id_column()
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[datetime]


class WechatInbound(Base):
    """A message or event already seen: WeChat retries get the stored reply back."""

    __tablename__ = "wechat_inbound"

    # msg:<MsgId> or evt:<FromUserName>:<CreateTime>:<Event>
    dedupe_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    # Not indexed: nothing looks messages up by openid, and the webhook inserts a row
    # for every message (migration 0002).
    openid: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(index=True)  # pruning
    # processing | done
    state: Mapped[str] = mapped_column(String(20), default="processing")
    reply: Mapped[str | None] = mapped_column(Text)


class WechatConversation(Base):
    """Where a user is in a multi-step conversation (any worker may serve the next step)."""

    __tablename__ = "wechat_conversations"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow: Mapped[str | None] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    subscribed: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime]


class WechatScene(Base):
    """A QR scene token: what scanning the code means, for how long, and whether it was used."""

    __tablename__ = "wechat_scenes"

    id: Mapped[str] = id_column()
    token: Mapped[str] = mapped_column(String(64), unique=True)
    # onboarding | pc_login | signature_pad (see core/wechat/scenes.py)
    kind: Mapped[str] = mapped_column(String(30))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    single_use: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_openid: Mapped[str | None] = mapped_column(String(64))
    scans: Mapped[int] = mapped_column(Integer, default=0)
    # WeChat's QR ticket (shown as an image via showqrcode) when the API created one.
    qr_ticket: Mapped[str | None] = mapped_column(String(200))


class WechatCredential(Base):
    """access_token / jsapi_ticket shared by every worker; one holder refreshes (lease)."""

    __tablename__ = "wechat_credentials"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(600))
    expires_at: Mapped[datetime | None]
    lease_id: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None]
    refreshed_at: Mapped[datetime | None]


class ConsoleWechatMessage(Base):
    """What the console WeChat client 'sent' (dev mode): the simulator shows these."""

    __tablename__ = "console_wechat_messages"

    id: Mapped[str] = id_column()
    openid: Mapped[str] = mapped_column(String(64), index=True)
    # custom | template
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    sent_at: Mapped[datetime]
