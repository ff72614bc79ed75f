"""What the webhook remembers between requests, in the database all workers share:
which messages were already handled (WeChat retries after 5 s, up to three times) and
where each user is in a conversation."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from core.context import Deps
from storage.models import WechatConversation, WechatInbound

KEEP_INBOUND = timedelta(days=1)
# A retry that arrives while the first delivery is still being handled waits this long.
RETRY_WAIT_SECONDS = 3.0
# A claim left 'processing' this long (crashed worker) may be taken over.
STALE_CLAIM = timedelta(seconds=30)


@dataclass(frozen=True)
class InboundClaim:
    # True: this request handles the message. False: a retry; answer with `reply`.
    fresh: bool
    reply: str | None = None


async def claim_inbound(deps: Deps, key: str, openid: str) -> InboundClaim:
    now = deps.clock.now()
    try:
        async with deps.db.transaction() as tx:
            tx.session.add(
                WechatInbound(dedupe_key=key, openid=openid, received_at=now, state="processing")
            )
            if secrets.randbelow(200) == 0:  # occasional pruning keeps the table small
                await tx.session.execute(
                    delete(WechatInbound).where(WechatInbound.received_at < now - KEEP_INBOUND)
                )
        return InboundClaim(fresh=True)
    except IntegrityError:
        pass
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RETRY_WAIT_SECONDS
    while True:
        async with deps.db.sessions() as session:
            row = await session.get(WechatInbound, key)
        if row is None:
            return InboundClaim(fresh=False, reply=None)
        if row.state == "done":
            return InboundClaim(fresh=False, reply=row.reply)
        if row.received_at < deps.clock.now() - STALE_CLAIM:
            async with deps.db.transaction() as tx:
                taken = await tx.session.execute(
                    update(WechatInbound)
                    .where(WechatInbound.dedupe_key == key,
                           WechatInbound.received_at == row.received_at)
                    .values(received_at=deps.clock.now())
                )
            if taken.rowcount:
                return InboundClaim(fresh=True)
        if loop.time() >= deadline:
            return InboundClaim(fresh=False, reply=None)
        await asyncio.sleep(0.1)


async def finish_inbound(deps: Deps, key: str, reply: str | None) -> None:
    """Store the reply a retry of this message will get ('' or None: plain success)."""
    async with deps.db.transaction() as tx:
        await tx.session.execute(
            update(WechatInbound)
            .where(WechatInbound.dedupe_key == key)
            .values(state="done", reply=reply or "")
        )


@dataclass
class ConversationState:
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


async def load_conversation(deps: Deps, openid: str) -> ConversationState:
    async with deps.db.sessions() as session:
        row = await session.get(WechatConversation, openid)
    if row is None or row.flow is None:
        return ConversationState()
    return ConversationState(row.flow, row.step, dict(row.data or {}))


async def save_conversation(deps: Deps, openid: str, state: ConversationState) -> None:
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        row = await tx.session.get(WechatConversation, openid, with_for_update=True)
        if row is None:
            tx.session.add(
                WechatConversation(
                    openid=openid, flow=state.flow, step=state.step, data=state.data,
                    subscribed=True, updated_at=now,
                )
            )
        else:
            row.flow, row.step, row.data, row.updated_at = state.flow, state.step, state.data, now


async def set_subscribed(deps: Deps, openid: str, subscribed: bool) -> None:
    """Follow / unfollow. Unfollowing also ends any conversation in progress."""
    now = deps.clock.now()
    async with deps.db.transaction() as tx:
        row = await tx.session.get(WechatConversation, openid, with_for_update=True)
        if row is None:
            tx.session.add(
                WechatConversation(openid=openid, subscribed=subscribed, data={}, updated_at=now)
            )
        else:
            row.subscribed, row.updated_at = subscribed, now
            if not subscribed:
                row.flow, row.step, row.data = None, None, {}


async def known_openids(deps: Deps, limit: int = 50) -> list[tuple[str, bool]]:
    """Recently active openids and whether they follow (the dev simulator's picker)."""
    async with deps.db.sessions() as session:
        rows = (
            await session.execute(
                select(WechatConversation.openid, WechatConversation.subscribed)
                .order_by(WechatConversation.updated_at.desc())
                .limit(limit)
            )
        ).all()
    return [(r[0], bool(r[1])) for r in rows]
