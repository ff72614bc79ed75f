"""Times on pages are Beijing time (`{{ dt|local }}`), whatever the server's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

from handlers.render import build_environment, local_time


def test_utc_datetime_is_shown_in_beijing_time() -> None:
    assert local_time(datetime(2026, 1, 1, 16, 30, tzinfo=UTC)) == "2026-01-02 00:30"


def test_naive_datetime_is_taken_as_utc() -> None:
    assert local_time(datetime(2026, 1, 1, 16, 30), "%H:%M") == "00:30"


def test_dates_and_none() -> None:
    assert (local_time(date(2026, 3, 8), "%Y-%m-%d"), local_time(None)) == ("2026-03-08", "")


def test_filter_is_available_in_templates() -> None:
    template = build_environment().from_string("{{ t|local('%m-%d %H:%M') }}")
    assert template.render(t=datetime(2026, 5, 1, 2, 0, tzinfo=UTC)) == "05-01 10:00"
