"""Inbound messages as the bot sees them, built from the vetted XML fields."""

from __future__ import annotations

from dataclasses import dataclass

from core.wechat.protocol import ProtocolError

SCENE_PREFIX = "qrscene_"


@dataclass(frozen=True)
class Inbound:
    to_user: str
    openid: str
    create_time: str
    msg_type: str  # text | image | voice | event | …
    event: str  # lower case; '' for ordinary messages
    event_key: str
    msg_id: str
    content: str

    @classmethod
    def from_fields(cls, f: dict[str, str]) -> Inbound:
        openid, msg_type = f.get("FromUserName", ""), f.get("MsgType", "").lower()
        create_time = f.get("CreateTime", "")
        if not openid or len(openid) > 64 or not msg_type or not create_time.isdigit():
            raise ProtocolError("missing FromUserName, MsgType or CreateTime")
        return cls(
            to_user=f.get("ToUserName", ""), openid=openid, create_time=create_time,
            msg_type=msg_type, event=f.get("Event", "").lower(),
            event_key=f.get("EventKey", "") or "", msg_id=f.get("MsgId", "") or "",
            content=f.get("Content", "") or "",
        )

    @property
    def dedupe_key(self) -> str:
        """WeChat's retry identity: MsgId for messages; sender+time+event for events."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"evt:{self.openid}:{self.create_time}:{self.event or self.msg_type}"

    @property
    def scene(self) -> str | None:
        """The scene of a QR scan: 'qrscene_X' on subscribe, plain 'X' on SCAN."""
        if self.event == "subscribe" and self.event_key.startswith(SCENE_PREFIX):
            return self.event_key[len(SCENE_PREFIX):] or None
        if self.event == "scan" and self.event_key:
            return self.event_key
        return None
