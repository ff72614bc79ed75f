"""The Clock port: services ask it for 'now' so tests can move time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# Every time shown to people, and every calendar bucket (months on the dashboard), is
# Beijing time; stored values are UTC. `tzdata` provides the zone where the system lacks it.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock tests can set and advance."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)
