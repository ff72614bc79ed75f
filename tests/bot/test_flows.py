"""Dialog tables: (what the user does, a phrase the bot's reply must contain), per user state.

A user action is a text message, or ("event", Event, EventKey).
"""

from __future__ import annotations

import pytest

from bot.dispatch import keyword_action
from core.context import RequestMeta
from core.contracts.ending import revoke_contract
from core.wechat.accounts import bind_openid
from core.wechat.inbox import load_conversation
from tests.bot.wx import FakeWechat
from tests.contract_support import parties, send_contract, sign_as, start_tsa
from tests.enterprise_factories import META
from tests.factories import make_user

Action = str | tuple[str, str, str]


async def run_dialog(wx: FakeWechat, openid: str, table: list[tuple[Action, str]]) -> None:
    for action, expected in table:
        if isinstance(action, tuple):
            reply = await wx.event(openid, action[1], action[2])
        else:
            reply = await wx.say(openid, action)
        assert expected in reply, f"{action!r} → {reply!r}"


async def _bound(deps, openid: str, *, verified: bool) -> None:
    user = await make_user(deps, verified=verified)
    await bind_openid(deps, user.id, openid, RequestMeta())


UNBOUND = [
    (("event", "subscribe", ""), "/register%3Fnext%3D/wechat/bind"),
    ("合同", "还没有绑定账号"),
    ("签合同", "还没有绑定账号"),
    ("实名认证", "还没有绑定账号"),
    ("怎么用？", "「实名」"),
    ("今天天气不错", "没有理解"),
    ("登录", "/login%3Fnext%3D/wechat/bind"),
    ("登陆", "自动绑定"),
    ("怎么登入", "扫码登录"),
    (("event", "CLICK", "MENU_HELP"), "「签名」"),
    (("event", "CLICK", "MENU_TO_SIGN"), "登录"),
]


async def test_unbound_user_dialog(wx: FakeWechat) -> None:
    await run_dialog(wx, "o_unbound", UNBOUND)


UNVERIFIED = [
    (("event", "subscribe", ""), "去实名认证"),
    ("认证", "/identity"),
    ("手写签名", "设置手写签名"),
    ("合同", "查看我的合同"),
    (("event", "CLICK", "MENU_IDENTITY"), "去实名认证"),
    (("event", "CLICK", "MENU_SIGNATURE"), "/me/signatures"),
    ("登录", "已绑定本微信"),
    ("电脑怎么登录", "扫码登录"),
]


async def test_bound_unverified_user_dialog(wx: FakeWechat, deps) -> None:
    await _bound(deps, "o_unverified", verified=False)
    await run_dialog(wx, "o_unverified", UNVERIFIED)


VERIFIED_WAITING = [
    (("event", "subscribe", ""), "您有 3 份合同待签署"),
    ("待签署", "立即签署"),
    ("我要签署", "/contracts%3Ftab%3Dto_sign"),
    ("实名", "已完成实名认证"),
    (("event", "CLICK", "MENU_MY_CONTRACTS"), "3 份合同待签署"),
]


async def test_verified_user_with_contracts_waiting_dialog(wx: FakeWechat, deps) -> None:
    """Three real contracts wait for the employee; a fourth is theirs too but already
    revoked, so it is not counted."""
    p = await parties(deps)
    await bind_openid(deps, p.employee_id, "o_verified", RequestMeta())
    ids = [await send_contract(deps, p, title=f"劳动合同 {i}") for i in range(4)]
    await revoke_contract(deps, p.admin_id, ids[-1], "发错了", META)
    await run_dialog(wx, "o_verified", VERIFIED_WAITING)


async def test_waiting_count_is_zero_once_the_employee_has_signed(
        wx: FakeWechat, deps, outbox, aiohttp_server) -> None:
    await start_tsa(deps, aiohttp_server)
    p = await parties(deps)
    await bind_openid(deps, p.employee_id, "o_signed", RequestMeta())
    contract_id = await send_contract(deps, p)
    assert "您有 1 份合同待签署" in await wx.event("o_signed", "subscribe")
    await sign_as(deps, outbox, p.employee_id, contract_id)
    assert "目前没有待签署的合同" in await wx.say("o_signed", "待签署")


async def test_verified_user_greeting_uses_masked_name(wx: FakeWechat, deps) -> None:
    await _bound(deps, "o_named", verified=True)
    reply = await wx.event("o_named", "subscribe")
    assert "张*，您好" in reply and "张三" not in reply


HANDOFF = [
    ("人工客服", "请用一句话描述"),
    ("", "请用文字描述"),
    ("合同打不开", "已收到"),
    ("合同", "还没有绑定账号"),  # the flow has ended: keywords work again
]


async def test_handoff_flow_dialog(wx: FakeWechat) -> None:
    await run_dialog(wx, "o_handoff", HANDOFF)


CANCELLED = [("转人工", "请用一句话描述"), ("取消", "已退出"), ("帮助", "「合同」")]


async def test_handoff_flow_can_be_cancelled(wx: FakeWechat) -> None:
    await run_dialog(wx, "o_cancel", CANCELLED)


async def test_menu_click_abandons_a_flow_in_progress(wx: FakeWechat, deps) -> None:
    await run_dialog(wx, "o_menu", [("客服", "请用一句话描述"),
                                    (("event", "CLICK", "MENU_HELP"), "「合同」")])
    assert (await load_conversation(deps, "o_menu")).flow is None


async def test_flow_state_is_persisted_per_openid(wx: FakeWechat, deps) -> None:
    await wx.say("o_state", "人工")
    state = await load_conversation(deps, "o_state")
    assert (state.flow, state.step) == ("handoff", "describe")


async def test_unsubscribe_ends_the_flow_and_gets_success(wx: FakeWechat, deps) -> None:
    await wx.say("o_unsub", "人工")
    answer = await wx.post(wx.message("o_unsub", MsgType="event", Event="unsubscribe"))
    assert answer.body == "success"
    assert (await load_conversation(deps, "o_unsub")).flow is None


async def test_image_message_gets_help_not_silence(wx: FakeWechat) -> None:
    answer = await wx.post(wx.message("o_img", MsgType="image", PicUrl="http://x/1.jpg",
                                      MediaId="m", MsgId=99))
    assert "文字消息" in answer.content


async def test_unknown_menu_key_gets_help(wx: FakeWechat) -> None:
    assert "「合同」" in await wx.event("o_key", "CLICK", "NO_SUCH_KEY")


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("合同", "my_contracts"), ("我的合同", "my_contracts"), ("签署", "to_sign"),
        ("签合同", "to_sign"), ("待签", "to_sign"), ("实名", "identity"),
        ("认证", "identity"), ("实名认证！", "identity"), ("签名", "signature"),
        ("手写签名", "signature"), ("帮助", "help"), ("怎么用", "help"), ("？", "help"),
        ("人工", "handoff"), ("客服", "handoff"), (" 转人工 ", "handoff"),
        ("登录", "login"), ("登陆", "login"), ("登入", "login"), ("电脑上怎么登录？", "login"),
        ("今天吃什么", None), ("", None),
    ],
)
def test_keyword_variants(text: str, action: str | None) -> None:
    assert keyword_action(text) == action


async def test_welcome_promises_only_what_the_binding_does(wx: FakeWechat) -> None:
    # The bind page binds by itself after log-in (tests/handlers/test_wechat_h5.py), so
    # the welcome may say 自动; it must not send people to a page that then asks again.
    reply = await wx.event("o_welcome", "subscribe")
    assert "自动绑定" in reply and "确认" not in reply
