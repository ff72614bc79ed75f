"""Human contract numbers: HT + the Beijing date + the enterprise's sequence of that day
(HT202612030001). One counter row per enterprise and day, bumped in the transaction that
creates the contract: two senders of one enterprise queue on that row for the rest of
their (short) transaction; other enterprises never wait."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.clock import LOCAL_ZONE
from storage.models import ContractNumberCounter
from storage.uow import Tx

PREFIX = "HT"


def day_of(at: datetime) -> str:
    return at.astimezone(LOCAL_ZONE).strftime("%Y%m%d")


async def next_number(tx: Tx, enterprise_id: str, at: datetime) -> str:
    day = day_of(at)
    insert = pg_insert if tx.dialect == "postgresql" else sqlite_insert
    await tx.session.execute(
        insert(ContractNumberCounter)
        .values(enterprise_id=enterprise_id, day=day, last=0)
        .on_conflict_do_nothing(index_elements=["enterprise_id", "day"]))
    last = (await tx.session.execute(
        update(ContractNumberCounter)
        .where(ContractNumberCounter.enterprise_id == enterprise_id,
               ContractNumberCounter.day == day)
        .values(last=ContractNumberCounter.last + 1)
        .returning(ContractNumberCounter.last))).scalar_one()
    return f"{PREFIX}{day}{last:04d}"
