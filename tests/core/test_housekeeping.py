from datetime import timedelta

from sqlalchemy import func, select

from core import housekeeping, ratelimit
from storage.models import RateEvent


async def count_events(deps) -> int:
    async with deps.db.sessions() as s:
        return (await s.execute(select(func.count()).select_from(RateEvent))).scalar_one()


async def test_sweep_removes_only_events_older_than_two_days(deps, clock) -> None:
    async with deps.db.transaction() as tx:
        await ratelimit.record(tx, "b", "k", clock.now() - timedelta(days=3))
        await ratelimit.record(tx, "b", "k", clock.now() - timedelta(hours=1))
    removed = await housekeeping.sweep(deps)
    assert removed["rate_events"] == 1
    assert await count_events(deps) == 1
