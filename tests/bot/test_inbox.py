"""The webhook's group-committed inbox: concurrent messages share transactions, and
concurrent retries of one message still cause one side effect."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from core.wechat.inbox import Inbox, load_conversation
from storage.models import AuditEntry, WechatConversation, WechatInbound
from tests.bot.wx import FakeWechat


async def test_concurrent_retries_of_one_message_have_one_side_effect(wx: FakeWechat,
                                                                      deps) -> None:
    await wx.say("o_burst", "人工")
    replies = await asyncio.gather(
        *(wx.say("o_burst", "合同打不开", msg_id=777) for _ in range(5))
    )
    assert len(set(replies)) == 1 and "已收到" in replies[0]
    async with deps.db.sessions() as s:
        handoffs = (await s.execute(
            select(func.count()).where(AuditEntry.action == "wechat.handoff"))).scalar_one()
    assert handoffs == 1


async def test_many_followers_at_once_are_all_greeted_and_recorded(wx: FakeWechat,
                                                                   deps) -> None:
    openids = [f"o_crowd_{i:02d}" for i in range(40)]
    replies = await asyncio.gather(*(wx.event(o, "subscribe") for o in openids))
    assert all("欢迎关注" in r for r in replies)
    async with deps.db.sessions() as s:
        followed = (await s.execute(select(func.count()).where(
            WechatConversation.subscribed.is_(True)))).scalar_one()
        done = (await s.execute(select(func.count()).where(
            WechatInbound.state == "done"))).scalar_one()
    assert (followed, done) == (40, 40)


async def test_claims_and_finishes_share_one_transaction(deps) -> None:
    inbox = Inbox(deps)
    turns = await asyncio.gather(*(inbox.begin(f"msg:{i}", f"o_b{i}") for i in range(10)))
    assert all(t.fresh for t in turns)
    await asyncio.gather(*(inbox.finish(f"msg:{i}", f"o_b{i}", f"r{i}") for i in range(10)))
    again = await inbox.begin("msg:3", "o_b3")
    assert (again.fresh, again.reply) == (False, "r3")


async def test_unfollow_in_a_batch_ends_the_flow(wx: FakeWechat, deps) -> None:
    await wx.say("o_leave", "人工")
    assert (await load_conversation(deps, "o_leave")).flow == "handoff"
    await asyncio.gather(wx.event("o_leave", "unsubscribe"), wx.event("o_other", "subscribe"))
    assert (await load_conversation(deps, "o_leave")).flow is None


async def test_a_failing_operation_does_not_fail_its_batch(deps, monkeypatch) -> None:
    import core.wechat.inbox as inbox_module

    real_batch = inbox_module._run_batch
    sizes: list[int] = []

    def flaky(conn, ops, now):
        sizes.append(len(ops))
        if any(op.key == "msg:bad" for op in ops):
            raise RuntimeError("bad operation")
        return real_batch(conn, ops, now)

    monkeypatch.setattr(inbox_module, "_run_batch", flaky)
    inbox = Inbox(deps)
    keys = ("msg:a", "msg:bad", "msg:c")
    outcomes = await asyncio.wait_for(asyncio.gather(
        *(inbox.begin(k, "o_f") for k in keys), return_exceptions=True), 10)
    assert sizes[0] == 3  # one batch first, then each operation on its own
    assert [type(o).__name__ for o in outcomes] == ["InboundTurn", "RuntimeError",
                                                    "InboundTurn"]
    assert outcomes[0].fresh and outcomes[2].fresh
    async with deps.db.sessions() as s:
        stored = set((await s.execute(select(WechatInbound.dedupe_key))).scalars())
    assert stored == {"msg:a", "msg:c"}


async def test_no_write_turn_fails_the_waiting_operations_instead_of_hanging(
    deps, monkeypatch
) -> None:
    from storage.uow import DatabaseBusy

    async def busy(next_job):
        raise DatabaseBusy()

    monkeypatch.setattr(deps.db, "run_writes", busy)
    inbox = Inbox(deps)
    outcomes = await asyncio.wait_for(asyncio.gather(
        *(inbox.begin(f"msg:busy{i}", "o_busy") for i in range(3)), return_exceptions=True), 5)
    assert [type(o).__name__ for o in outcomes] == ["DatabaseBusy"] * 3


async def test_a_burst_is_split_into_bounded_batches(deps, monkeypatch) -> None:
    import core.wechat.inbox as inbox_module

    real_batch = inbox_module._run_batch
    sizes: list[int] = []

    def counted(conn, ops, now):
        sizes.append(len(ops))
        return real_batch(conn, ops, now)

    monkeypatch.setattr(inbox_module, "_run_batch", counted)
    monkeypatch.setattr(inbox_module, "MAX_BATCH", 8)
    inbox = Inbox(deps)
    turns = await asyncio.gather(*(inbox.begin(f"msg:burst{i}", f"o_burst{i % 7}")
                                   for i in range(30)))
    assert all(t.fresh for t in turns)
    assert sum(sizes) == 30 and max(sizes) == 8 and len(sizes) >= 4
