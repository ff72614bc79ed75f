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
from storage.models import ArchiveNumberCounter, ContractNumberCounter
from storage.uow import Tx

PREFIX = "HT"
# Paper contracts archived without a number of their own (core/contracts/archive.py):
# GD + the day + a sequence of their own, so archiving leaves no gaps in the HT numbers.
ARCHIVE_PREFIX = "GD"


def day_of(at: datetime) -> str:
    return at.astimezone(LOCAL_ZONE).strftime("%Y%m%d")


async def next_number(tx: Tx, enterprise_id: str, at: datetime, *,
                      archive: bool = False) -> str:
    day = day_of(at)
    counter: type[ContractNumberCounter] | type[ArchiveNumberCounter] = (
        ArchiveNumberCounter if archive else ContractNumberCounter)
    insert = pg_insert if tx.dialect == "postgresql" else sqlite_insert
    await tx.session.execute(
        insert(counter)
        .values(enterprise_id=enterprise_id, day=day, last=0)
        .on_conflict_do_nothing(index_elements=["enterprise_id", "day"]))
    last = (await tx.session.execute(
        update(counter)
        .where(counter.enterprise_id == enterprise_id, counter.day == day)
        .values(last=counter.last + 1)
        .returning(counter.last))).scalar_one()
    return f"{ARCHIVE_PREFIX if archive else PREFIX}{day}{last:04d}"
