"""人工/客服: ask for a one-line description, then hand it to the support desk."""

from __future__ import annotations

from bot.flows.base import Flow, Step, Turn, register
from core.wechat.accounts import request_human_support


@register
class HandoffFlow(Flow):
    name = "handoff"

    async def step_start(self, turn: Turn) -> Step:
        return Step(
            "正在为您转接人工客服。请用一句话描述您遇到的问题（回复「取消」退出）。",
            next="describe",
        )

    async def step_describe(self, turn: Turn) -> Step:
        text = turn.text.strip()
        if not text:
            return Step("请用文字描述您的问题（回复「取消」退出）。", next="describe")
        await request_human_support(turn.deps, turn.openid, text)
        return Step("已收到，客服将在工作时间（9:00–18:00）内通过公众号回复您。")
