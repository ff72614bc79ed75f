"""Where a WeChat follower stands: bound or not, verified or not, and how many contracts
wait for them (the length of their 待我签署 list). The bot's greetings and menu replies
start from it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from core.context import Deps
from core.contracts.access import count_to_sign
from core.crypto import mask_name
from core.wechat.inbox import UserBrief
from storage.models import User, WechatBinding


@dataclass(frozen=True)
class Standing:
    openid: str
    user_id: str | None
    verified: bool
    display_name: str | None
    contracts_waiting: int

    @property
    def state(self) -> str:
        """unbound | unverified | verified"""
        if self.user_id is None:
            return "unbound"
        return "verified" if self.verified else "unverified"


async def standing(deps: Deps, openid: str) -> Standing:
    async with deps.db.sessions() as session:
        row = (
            await session.execute(
                select(User.id, User.identity_state, User.real_name)
                .join(WechatBinding, WechatBinding.user_id == User.id)
                .where(WechatBinding.openid == openid, User.status == "active")
            )
        ).first()
    brief = UserBrief(row.id, row.identity_state, row.real_name) if row else None
    return await standing_of(deps, openid, brief)


async def standing_of(deps: Deps, openid: str, user: UserBrief | None) -> Standing:
    """Standing from the account the webhook's inbox already read with the claim."""
    if user is None:
        return Standing(openid, None, False, None, 0)
    verified = user.identity_state == "verified"
    name = mask_name(user.real_name) if verified and user.real_name else None
    waiting = await count_to_sign(deps, user.user_id)
    return Standing(openid, user.user_id, verified, name, waiting)
