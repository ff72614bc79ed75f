"""0009_ledger on a database with contracts: they are numbered in the order they were
made, become 劳动合同, and the enterprise gets the default business types it lacked."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.clock import LOCAL_ZONE
from storage import migrate
from tests.contract_support import parties, send_contract


@pytest.mark.skipif(bool(os.environ.get("LABORSIGN_TEST_DATABASE_URL")),
                    reason="the PostgreSQL test database is shared by the whole run")
async def test_existing_contracts_are_numbered_and_typed(deps, db_url, clock) -> None:
    p = await parties(deps)
    first = await send_contract(deps, p, title="第一份")
    clock.advance(seconds=5)
    second = await send_contract(deps, p, title="第二份")
    await deps.db.engine.dispose()
    await asyncio.to_thread(migrate.downgrade, db_url, "0007_evidence")
    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM business_types WHERE name IN ('保密协议', '其他')"))
    await engine.dispose()
    await asyncio.to_thread(migrate.upgrade, db_url)
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = dict((await conn.execute(text(
                "SELECT id, number FROM contracts"))).all())
            types = dict((await conn.execute(text(
                "SELECT name, id FROM business_types WHERE enterprise_id = :e"),
                {"e": p.enterprise_id})).all())
            kinds = set((await conn.execute(text(
                "SELECT business_type_id FROM contracts"))).scalars())
            last = (await conn.execute(text(
                "SELECT last FROM contract_number_counters WHERE enterprise_id = :e"),
                {"e": p.enterprise_id})).scalar_one()
    finally:
        await engine.dispose()
    day = clock.now().astimezone(LOCAL_ZONE).strftime("%Y%m%d")
    if rows[first][2:10] == rows[second][2:10]:  # not across Beijing midnight
        assert (rows[first], rows[second]) == (f"HT{day}0001", f"HT{day}0002")
        assert last == 2
    assert {"保密协议", "其他", "劳务合同"} <= set(types)
    assert kinds == {types["劳动合同"]}
