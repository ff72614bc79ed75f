"""The inbox's two statement sets (SQLAlchemy Core, plain SQL on sqlite3) do the same
thing, and what the plain-SQL one writes reads back through the ORM unchanged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, select

from core.context import Deps
from core.wechat.inbox import load_conversation
from core.wechat.inbox_sql import CoreStore, InboxStore, SqliteStore, store_for
from storage.models import WechatBinding, WechatInbound
from tests.factories import make_user


def _stores(deps: Deps) -> list[type]:
    return [CoreStore, SqliteStore] if deps.db.dialect == "sqlite" else [CoreStore]


async def _on(deps: Deps, kind: type, fn: Any) -> Any:
    def run(conn: Connection) -> Any:
        store: InboxStore = kind(conn)
        return fn(store)

    return await deps.db.run_write(run)


async def test_the_connection_picks_the_plain_sql_store_on_a_sqlite_file(deps: Deps) -> None:
    kind = await deps.db.run_write(lambda conn: type(store_for(conn)))
    assert kind is (SqliteStore if deps.db.dialect == "sqlite" else CoreStore)


@pytest.mark.parametrize("index", [0, 1])
async def test_both_stores_claim_finish_follow_and_read_alike(deps: Deps, index: int) -> None:
    kinds = _stores(deps)
    if index >= len(kinds):
        pytest.skip("plain SQL is for SQLite only")
    kind = kinds[index]
    now = deps.clock.now()
    user = await make_user(deps, verified=True, real_name="李四")
    async with deps.db.transaction() as tx:
        tx.session.add(WechatBinding(openid="o_bound", user_id=user.id, created_at=now))

    taken = await _on(deps, kind, lambda s: s.claim([("k1", "o_a"), ("k2", "o_bound")], now))
    assert taken == {"k1", "k2"}
    again = await _on(deps, kind, lambda s: s.claim([("k1", "o_a"), ("k3", "o_c")], now))
    assert again == {"k3"}
    assert await _on(deps, kind, lambda s: s.stored(["k1", "k9"])) == {
        "k1": ("processing", None)}
    await _on(deps, kind, lambda s: s.finish([("k1", "你好，回复")]))
    assert await _on(deps, kind, lambda s: s.stored(["k1"])) == {"k1": ("done", "你好，回复")}

    await _on(deps, kind, lambda s: s.follow([("o_a", True), ("o_c", False)], now))
    data = {"问题": "合同打不开", "n": 2}
    await _on(deps, kind, lambda s: s.save([("o_a", "handoff", "wait", data)], now))
    rows = await _on(deps, kind, lambda s: s.conversations_of(["o_a", "o_c", "o_none"]))
    assert rows == [("o_a", "handoff", "wait", data)]
    # What the store wrote, read through the ORM: zone-aware time, JSON, booleans.
    conv = await load_conversation(deps, "o_a")
    assert (conv.flow, conv.step, conv.data) == ("handoff", "wait", data)
    async with deps.db.sessions() as session:
        inbound = await session.get(WechatInbound, "k1")
        assert inbound is not None and inbound.received_at == now
        assert inbound.received_at.utcoffset() == timedelta(0)
        # ...and found by the ORM's own comparisons (a stale claim's takeover matches
        # on received_at): the stored text is exactly what the ORM would have written.
        matched = (await session.execute(select(WechatInbound.dedupe_key).where(
            WechatInbound.received_at == now).order_by(WechatInbound.dedupe_key))).scalars()
        assert list(matched) == ["k1", "k2", "k3"]

    await _on(deps, kind, lambda s: s.end_flows(["o_a"], now))
    assert await _on(deps, kind, lambda s: s.conversations_of(["o_a"])) == []

    users = await _on(deps, kind, lambda s: s.users_of(["o_bound", "o_a"]))
    assert users == [("o_bound", user.id, "verified", "李四")]

    await _on(deps, kind, lambda s: s.prune(now + timedelta(seconds=1)))
    async with deps.db.sessions() as session:
        left = (await session.execute(select(WechatInbound.dedupe_key))).scalars().all()
    assert left == []
