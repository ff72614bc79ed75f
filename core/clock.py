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
    """A clock tests can set and advance.

    It starts at the real now (whole seconds) unless told otherwise: state a test makes
    on it is often handed to a live server, a certificate validator or pdfsig, which all
    run on the system clock, so a fixed date would start failing once it aged past some
    validity window.
    """

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)
