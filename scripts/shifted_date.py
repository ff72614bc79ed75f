#!/usr/bin/env python3
"""Prints the date the date-shifted test run uses: a year from now, on the last day of
that month, at 12:00 UTC (20:00 in Beijing), as `YYYY-MM-DD HH:MM:SS`."""

import calendar
from datetime import UTC, datetime

now = datetime.now(UTC)
year, month = now.year + 1, now.month
last = calendar.monthrange(year, month)[1]
print(f"{year}-{month:02d}-{last:02d} 12:00:00")
