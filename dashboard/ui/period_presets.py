"""The sidebar's preset periods ("Last 30 days", "All time", ...) as inclusive dates, counted
from today in the dashboard's zone. Pure: tested without Streamlit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from queries import (
    FIRST_DATE,
    LAST_DATE,
)

PERIODS = (
    "Last 7 days",
    "Last 30 days",
    "Last 90 days",
    "Quarter to date",
    "Year to date",
    "All time",
    "Custom range",
)
DEFAULT_PERIOD = "Last 30 days"
CUSTOM = "Custom range"
ALL_TIME = "All time"
DateRange = tuple[date, date]


def period_dates(period: str, today: date, all_time: Callable[[], DateRange]) -> DateRange:
    """The inclusive dates of a preset period, as of ``today`` in the dashboard's zone."""
    if period == "Last 7 days":
        return today - timedelta(days=6), today
    if period == "Last 30 days":
        return today - timedelta(days=29), today
    if period == "Last 90 days":
        return today - timedelta(days=89), today
    if period == "Quarter to date":
        return date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today
    if period == "Year to date":
        return date(today.year, 1, 1), today
    if period == ALL_TIME:
        return all_time()
    raise ValueError(f"not a preset period: {period!r}")


def matching_period(start: date, end: date, today: date, all_time: Callable[[], DateRange]) -> str:
    """The preset whose dates these are today, else ``Custom range``."""
    for period in PERIODS:
        if period != CUSTOM and period_dates(period, today, all_time) == (start, end):
            return period
    return CUSTOM


def all_time_range(
    first: datetime | None, last: datetime | None, today: date, tz: str | None = None
) -> DateRange:
    """The dates of the scope's data (``queries.data_range``), or just today when there is none;
    local dates in ``tz`` when given (else in the zone of ``first`` and ``last``)."""
    if first is None or last is None:
        return today, today
    if tz is not None:
        first, last = first.astimezone(ZoneInfo(tz)), last.astimezone(ZoneInfo(tz))
    return max(first.date(), FIRST_DATE), min(last.date(), LAST_DATE)
