"""Routes an inbound message to the right answer: events, menu clicks, scenes, keywords,
the flow in progress, and help for anything else (never silence).

`change_of(msg)` says what the message changes before it is answered (follow, unfollow,
a click or scan ending a flow); the webhook's inbox applies it together with the
message's claim. `answer` then works on what that claim read: the conversation and the
user's bound account.
"""

from __future__ import annotations

import re

from bot import replies
from bot.flows import handoff  # noqa: F401  (registers the flow)
from bot.flows.base import Conversation, continue_flow, start_flow
from bot.messages import Inbound
from bot.scenes import SCENE_HANDLERS
from core.context import Deps
from core.errors import DomainError
from core.wechat import menu as menu
from core.wechat.inbox import Change, UserBrief
from core.wechat.scenes import scan_scene
from core.wechat.standing import standing_of

# Keyword groups in priority order; a message matches a group when it equals or contains
# one of its words (after removing spaces and punctuation).
KEYWORDS: list[tuple[str, tuple[str, ...]]] = [
    ("handoff", ("人工", "客服", "转人工", "真人", "投诉")),
    ("login", ("登录", "登陆", "登入", "登錄", "login")),
    ("signature", ("签名", "手写", "签字")),
    ("identity", ("实名", "认证", "人脸", "身份")),
    ("to_sign", ("待签", "签合同", "签署", "签约", "签一下")),
    ("my_contracts", ("合同", "劳动合同", "下载")),
    ("help", ("帮助", "怎么用", "如何使用", "使用说明", "help", "菜单", "你好", "您好", "hi",
              "hello", "?", "？")),
]
_STRIP = re.compile(r"[\s，。！？、,.!~～：:；;“”\"'（）()【】\[\]]+")

MENU_ACTIONS = {
    menu.MY_CONTRACTS: "my_contracts",
    menu.TO_SIGN: "to_sign",
    menu.IDENTITY: "identity",
    menu.SIGNATURE: "signature",
    menu.HELP: "help",
}
_RENDER = {
    "to_sign": replies.to_sign, "my_contracts": replies.my_contracts,
    "identity": replies.identity, "signature": replies.signature, "login": replies.login,
}


def keyword_action(text: str) -> str | None:
    raw = text.strip().lower()
    if raw in {"?", "？"}:
        return "help"
    norm = _STRIP.sub("", raw)
    if not norm:
        return None
    for action, words in KEYWORDS:
        if any(norm == w or (len(w) > 1 and w in norm) for w in words):
            return action
    return None


def change_of(msg: Inbound) -> Change | None:
    """What the message changes before its answer: a menu click or a scan starts
    something new (a half-finished flow ends); unfollowing ends everything."""
    if msg.msg_type != "event":
        return None
    if msg.event == "subscribe":
        return "subscribe"
    if msg.event == "unsubscribe":
        return "unsubscribe"
    if (msg.event == "scan" and msg.scene) or (
        msg.event == "click" and msg.event_key in MENU_ACTIONS
    ):
        return "end_flow"
    return None


async def answer_action(
    deps: Deps, conv: Conversation, user: UserBrief | None, action: str
) -> str:
    if action == "help":
        return replies.help_text()
    if action == "handoff":
        return await start_flow(deps, conv, "handoff")
    return _RENDER[action](deps, await standing_of(deps, conv.openid, user))


async def answer_scene(deps: Deps, openid: str, token: str) -> str:
    try:
        scan = await scan_scene(deps, token, openid)
    except DomainError as err:
        return err.message
    handler = SCENE_HANDLERS.get(scan.kind)
    if handler is None:
        return replies.help_text()
    return await handler(deps, scan)


async def answer(
    deps: Deps, msg: Inbound, conv: Conversation, user: UserBrief | None
) -> str | None:
    """The reply text, or None for 'success' (nothing to say). `change_of(msg)` has
    already been applied to `conv`; flows record their new state on it."""
    openid = msg.openid
    if msg.msg_type == "event":
        if msg.event == "subscribe":
            text = replies.greeting(deps, await standing_of(deps, openid, user))
            if msg.scene:
                text += "\n\n" + await answer_scene(deps, openid, msg.scene)
            return text
        if msg.event == "unsubscribe":
            return None
        if msg.event == "scan" and msg.scene:
            return await answer_scene(deps, openid, msg.scene)
        if msg.event == "click":
            action = MENU_ACTIONS.get(msg.event_key)
            if action is None:
                return replies.help_text()
            return await answer_action(deps, conv, user, action)
        # VIEW, LOCATION, TEMPLATESENDJOBFINISH …: nothing to answer.
        return None
    if msg.msg_type == "text":
        in_flow = await continue_flow(deps, conv, msg.content)
        if in_flow is not None:
            return in_flow
        action = keyword_action(msg.content)
        if action is None:
            return replies.unknown_text()
        return await answer_action(deps, conv, user, action)
    if msg.msg_type in {"image", "voice", "video", "shortvideo", "location", "link"}:
        return replies.non_text()
    return None
