"""A small flow framework for multi-step conversations.

A flow is a class with `step_<name>` methods. Each takes the turn (who, what they sent,
the flow's saved data) and returns a `Step`: the reply, and the next step's name (None
ends the flow). The runner works on the `Conversation` the webhook read with the
message's claim and stores the new state with the reply (core.wechat.inbox), so any
worker can serve the next message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from core.context import Deps
from core.wechat.inbox import ConversationState

CANCEL_WORDS = frozenset({"取消", "退出", "算了", "结束", "cancel", "q"})


@dataclass
class Conversation:
    """One user's conversation during one message: the state read, and whether it changed."""

    openid: str
    state: ConversationState = field(default_factory=ConversationState)
    changed: bool = False

    def set(self, state: ConversationState) -> None:
        self.state, self.changed = state, True


@dataclass
class Turn:
    deps: Deps
    openid: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    reply: str
    next: str | None = None


StepMethod = Callable[[Turn], Awaitable[Step]]


class Flow:
    name: ClassVar[str]
    first_step: ClassVar[str] = "start"
    cancelled_reply: ClassVar[str] = "已退出。需要帮助请回复「帮助」。"

    def step(self, name: str) -> StepMethod | None:
        method = getattr(self, f"step_{name}", None)
        return method if callable(method) else None


FLOWS: dict[str, type[Flow]] = {}


def register(flow: type[Flow]) -> type[Flow]:
    FLOWS[flow.name] = flow
    return flow


async def start_flow(deps: Deps, conv: Conversation, name: str, text: str = "") -> str:
    flow = FLOWS[name]()
    turn = Turn(deps, conv.openid, text)
    method = flow.step(flow.first_step)
    assert method is not None, f"{name} has no step_{flow.first_step}"
    result = await method(turn)
    conv.set(ConversationState(name if result.next else None, result.next, turn.data))
    return result.reply


async def continue_flow(deps: Deps, conv: Conversation, text: str) -> str | None:
    """The reply of the flow in progress, or None when no flow is waiting for this user."""
    state = conv.state
    if state.flow is None or state.step is None:
        return None
    flow_cls = FLOWS.get(state.flow)
    method = flow_cls().step(state.step) if flow_cls else None
    if flow_cls is None or method is None:
        conv.set(ConversationState())
        return None
    if text.strip().lower() in CANCEL_WORDS:
        conv.set(ConversationState())
        return flow_cls.cancelled_reply
    turn = Turn(deps, conv.openid, text, dict(state.data))
    result = await method(turn)
    conv.set(ConversationState(state.flow if result.next else None, result.next, turn.data))
    return result.reply
