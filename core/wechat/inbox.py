"""What the webhook remembers between requests, in the database all workers share:
which messages were already handled (WeChat retries after 5 s, up to three times) and
where each user is in a conversation.

The webhook's hot path is two short steps per message, both group-committed by `Inbox`:
`begin` claims the de-duplication key, applies what the event itself changes (follow,
unfollow, a click or scan ending a flow) and reads the conversation and the user's
standing; `finish` stores the reply (for retries) and the conversation's new state.
Concurrent messages share one write transaction per step, so under load a message costs
a fraction of a transaction instead of four.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, select, update

from core.context import Deps
from core.wechat.inbox_sql import INBOUND, InboxStore, store_for
from storage.models import WechatConversation
from storage.uow import WriteJob

log = logging.getLogger(__name__)

KEEP_INBOUND = timedelta(days=1)
# A retry that arrives while the first delivery is still being handled waits this long.
RETRY_WAIT_SECONDS = 3.0
# A claim left 'processing' this long (crashed worker) may be taken over.
STALE_CLAIM = timedelta(seconds=30)
# Operations per transaction at most. On SQLite a batch runs on the event loop (about
# 40 µs an operation), so a burst of thousands is split into turns of a few ms.
MAX_BATCH = 200


# What an event changes before the bot answers it.
Change = Literal["subscribe", "unsubscribe", "end_flow"]


@dataclass
class ConversationState:
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UserBrief:
    """The bound account of an openid (active users only)."""

    user_id: str
    identity_state: str
    real_name: str | None


@dataclass(frozen=True)
class InboundTurn:
    # True: this request handles the message. False: a retry; answer with `reply`.
    fresh: bool
    reply: str | None = None
    conversation: ConversationState = field(default_factory=ConversationState)
    user: UserBrief | None = None


@dataclass(frozen=True)
class _Claim:
    key: str
    openid: str
    change: Change | None
    owned: bool = False  # already taken over from a crashed worker: skip the insert


@dataclass(frozen=True)
class _Finish:
    key: str
    openid: str
    reply: str | None
    conversation: ConversationState | None


@dataclass(frozen=True)
class _Pending:
    """The key is being handled elsewhere (another worker): poll for its reply."""


_Op = _Claim | _Finish
_PENDING = _Pending()


class Inbox:
    """Per-process group commit of the webhook's claims and finishes.

    Operations queue up while a batch is in its transaction and go together in the next
    one: at low load a batch is one message, under load dozens. The database stays the
    single source of truth, so several worker processes (each with its own Inbox) agree
    on which request handles a message. A retry that arrives in the same process while
    the first delivery is in progress waits for it in memory.
    """

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        # Queued operations, taken as one batch by the next job (see _next_job).
        self._queue: list[tuple[_Op, asyncio.Future[Any]]] = []
        # The operations of a failed batch, retried one by one.
        self._singles: deque[tuple[_Op, asyncio.Future[Any]]] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._inflight: dict[str, asyncio.Future[str | None]] = {}

    # -- public ---------------------------------------------------------------------

    async def begin(self, key: str, openid: str, change: Change | None = None) -> InboundTurn:
        local = self._inflight.get(key)
        if local is not None:
            return InboundTurn(False, await self._wait_local(local))
        loop = asyncio.get_running_loop()
        mine: asyncio.Future[str | None] = loop.create_future()
        self._inflight[key] = mine
        try:
            result = await self._submit(_Claim(key, openid, change))
            if result is _PENDING:
                result = await self._poll(key, openid, change)
        except BaseException:
            self._release(key, None)
            raise
        if not result.fresh:
            self._release(key, result.reply)
        return result

    async def finish(self, key: str, openid: str, reply: str | None,
                     conversation: ConversationState | None = None) -> None:
        """Store the reply a retry will get ('' or None: plain success) and, when it
        changed, the conversation's new state."""
        try:
            await self._submit(_Finish(key, openid, reply, conversation))
        finally:
            self._release(key, reply)

    # -- in-process waiting ---------------------------------------------------------

    def _release(self, key: str, reply: str | None) -> None:
        fut = self._inflight.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(reply)

    @staticmethod
    async def _wait_local(fut: asyncio.Future[str | None]) -> str | None:
        try:
            return await asyncio.wait_for(asyncio.shield(fut), RETRY_WAIT_SECONDS)
        except TimeoutError:
            return None

    async def _poll(self, key: str, openid: str, change: Change | None) -> InboundTurn:
        """Another worker holds the claim: wait for its reply, or take a stale claim over."""
        deps = self.deps
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_WAIT_SECONDS
        while True:
            async with deps.db.sessions() as session:
                row = (await session.execute(
                    select(INBOUND.c.state, INBOUND.c.reply, INBOUND.c.received_at)
                    .where(INBOUND.c.dedupe_key == key)
                )).first()
            if row is None:
                return InboundTurn(False, None)
            if row.state == "done":
                return InboundTurn(False, row.reply)
            if row.received_at < deps.clock.now() - STALE_CLAIM:
                async with deps.db.transaction() as tx:
                    taken = await tx.changed(
                        update(INBOUND)
                        .where(INBOUND.c.dedupe_key == key,
                               INBOUND.c.received_at == row.received_at)
                        .values(received_at=deps.clock.now())
                    )
                if taken:
                    result: InboundTurn = await self._submit(
                        _Claim(key, openid, change, owned=True))
                    return result
            if loop.time() >= deadline:
                return InboundTurn(False, None)
            await asyncio.sleep(0.1)

    # -- group commit ---------------------------------------------------------------

    async def _submit(self, op: _Op) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.append((op, fut))
        self._ensure_flusher()
        return await fut

    def _ensure_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._queue or self._singles:
            try:
                await self.deps.db.run_writes(self._next_job)
            except Exception as exc:  # no write turn (DatabaseBusy): fail what waits
                waiting = [*self._singles, *self._queue]
                self._singles.clear()
                self._queue = []
                log.warning("wechat inbox could not write", exc_info=True)
                for _, fut in waiting:
                    if not fut.done():
                        fut.set_exception(exc)

    def _next_job(self) -> WriteJob | None:
        """Everything queued so far (up to MAX_BATCH operations), as one batch."""
        if self._singles:
            batch = [self._singles.popleft()]
        elif len(self._queue) <= MAX_BATCH:
            batch, self._queue = self._queue, []
        else:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        if not batch:
            return None
        ops, now = [op for op, _ in batch], self.deps.clock.now()
        return (lambda conn: _run_batch(conn, ops, now),
                lambda results, exc: self._settle(batch, results, exc))

    def _settle(self, batch: list[tuple[_Op, asyncio.Future[Any]]], results: list[Any] | None,
                exc: BaseException | None) -> None:
        if exc is None and results is not None:
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
            return
        if len(batch) == 1:
            if not batch[0][1].done():
                batch[0][1].set_exception(exc or RuntimeError("inbox batch failed"))
            return
        # One bad operation must not fail its neighbours: retry them one by one.
        log.warning("wechat inbox batch failed; retrying singly", exc_info=exc)
        self._singles.extend(batch)
        self._ensure_flusher()


def _run_batch(conn: Connection, ops: Sequence[_Op], now: datetime) -> list[Any]:
    store = store_for(conn)
    claims = [op for op in ops if isinstance(op, _Claim)]
    finishes = [op for op in ops if isinstance(op, _Finish)]
    results: dict[int, Any] = {}
    # Finishes first: a claim in this batch then sees their conversations.
    if finishes:
        store.finish([(f.key, f.reply or "") for f in finishes])
        saved = {f.openid: f.conversation for f in finishes if f.conversation}
        if saved:
            store.save([(o, c.flow, c.step, c.data) for o, c in saved.items()], now)
        for f in finishes:
            results[id(f)] = None
    if claims:
        fresh = _claim(store, claims, now, results)
        if fresh:
            _apply_changes(store, fresh, now)
            states, users = _snapshot(store, {c.openid for c in fresh})
            for c in fresh:
                results[id(c)] = InboundTurn(
                    True, None, states.get(c.openid, ConversationState()), users.get(c.openid)
                )
    return [results[id(op)] for op in ops]


def _claim(store: InboxStore, claims: list[_Claim], now: datetime,
           results: dict[int, Any]) -> list[_Claim]:
    fresh = [c for c in claims if c.owned]
    wanted: dict[str, _Claim] = {}
    for c in claims:
        if c.owned:
            continue
        if c.key in wanted:  # the same key twice in one batch: the first one handles it
            results[id(c)] = _PENDING
        else:
            wanted[c.key] = c
    if not wanted:
        return fresh
    # ON CONFLICT DO NOTHING RETURNING: the keys this batch claimed. On PostgreSQL a key
    # another worker is inserting right now waits for that transaction, then conflicts.
    taken = store.claim([(c.key, c.openid) for c in wanted.values()], now)
    seen = [k for k in wanted if k not in taken]
    stored = store.stored(seen) if seen else {}
    for key, c in wanted.items():
        if key in taken:
            fresh.append(c)
            continue
        state, reply = stored.get(key, (None, None))
        results[id(c)] = InboundTurn(False, reply) if state == "done" else _PENDING
    if taken and secrets.randbelow(200) < len(taken):  # occasional pruning
        store.prune(now - KEEP_INBOUND)
    return fresh


def _apply_changes(store: InboxStore, fresh: list[_Claim], now: datetime) -> None:
    follow: dict[str, bool] = {}
    ending: set[str] = set()
    for c in fresh:
        if c.change == "subscribe":
            follow[c.openid] = True
        elif c.change == "unsubscribe":
            follow[c.openid] = False
        elif c.change == "end_flow":
            ending.add(c.openid)
    if follow:
        store.follow(list(follow.items()), now)
        ending |= {o for o, on in follow.items() if not on}  # unfollowing ends a flow
    if ending:
        store.end_flows(sorted(ending), now)


def _snapshot(
    store: InboxStore, openids: set[str]
) -> tuple[dict[str, ConversationState], dict[str, UserBrief]]:
    ids = sorted(openids)
    states = {o: ConversationState(f, s, d) for o, f, s, d in store.conversations_of(ids)}
    users = {o: UserBrief(u, state, name) for o, u, state, name in store.users_of(ids)}
    return states, users


# -- single operations (tests, the simulator) ---------------------------------------------


async def load_conversation(deps: Deps, openid: str) -> ConversationState:
    async with deps.db.sessions() as session:
        row = await session.get(WechatConversation, openid)
    if row is None or row.flow is None:
        return ConversationState()
    return ConversationState(row.flow, row.step, dict(row.data or {}))


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
