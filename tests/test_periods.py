"""Periods as rollup cells: every day of a period exactly once, whole months where they fit."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from queries import Filters, periods

DAY = timedelta(days=1)
DATES = st.dates(date(1999, 11, 15), date(2031, 2, 15))


def days(lo: date, hi: date) -> list[date]:
    return [lo + i * DAY for i in range((hi - lo).days)]


def month_days(first: date, after: date) -> list[date]:
    """The days of the months that start in [first, after)."""
    out: list[date] = []
    month = first
    while month < after:
        out += days(month, periods.next_month(month))
        month = periods.next_month(month)
    return out


@given(first=DATES, length=st.integers(0, 800), months=st.booleans())
def test_cells_cover_each_day_of_the_period_once(first: date, length: int, months: bool) -> None:
    last = first + length * DAY
    covered: list[date] = []
    for span, lo, hi in periods.cover(first, last, months):
        assert lo < hi
        if span == "month":
            assert months and lo.day == 1 and hi.day == 1
            covered += month_days(lo, hi)
        else:
            assert span == "day"
            covered += days(lo, hi)
    assert covered == days(first, last + DAY)


def test_months_are_used_where_they_fit() -> None:
    cells = list(periods.cover(date(2025, 12, 30), date(2026, 6, 30), months=True))
    assert cells == [
        ("day", date(2025, 12, 30), date(2026, 1, 1)),
        ("month", date(2026, 1, 1), date(2026, 7, 1)),
    ]
    assert list(periods.cover(date(2026, 2, 3), date(2026, 2, 20), months=True)) == [
        ("day", date(2026, 2, 3), date(2026, 2, 21))
    ]


@given(start=DATES, length=st.integers(0, 800), previous=st.booleans(), months=st.booleans())
def test_total_cells_cover_both_periods(
    start: date, length: int, previous: bool, months: bool
) -> None:
    f = Filters(start=start, end=start + length * DAY)
    p = periods.total_cells(f, previous, months)
    covered: list[date] = []
    for span, lo, hi in zip(p["cell_span"], p["cell_lo"], p["cell_hi"], strict=True):
        covered += month_days(lo, hi) if span == "month" else days(lo, hi)
    first = f.previous().start if previous else f.start
    assert p["first_day"] == first and p["start_day"] == f.start and p["end_day"] == f.end + DAY
    assert covered == days(first, f.end + DAY)


@given(start=DATES, length=st.integers(0, 800))
def test_percentile_cells_add_up_to_the_period(start: date, length: int) -> None:
    """Months between the two boundaries, plus or minus the edge ranges, are the period."""
    f = Filters(start=start, end=start + length * DAY)
    p = periods.percentile_cells(f)
    assert p["first_day"] == f.start and p["last_day"] == f.end
    lo, hi = p["month_lo"], p["month_hi"]
    count: Counter[date] = Counter()
    if lo < hi:
        assert lo.day == 1 and hi.day == 1
        count.update(days(lo, hi))
        # The boundaries are the nearest ones: edges of at most half a month.
        assert all(
            b - a <= timedelta(days=16) for a, b in zip(p["edge_lo"], p["edge_hi"], strict=True)
        )
    for edge_lo, edge_hi, sign in zip(p["edge_lo"], p["edge_hi"], p["edge_sign"], strict=True):
        assert edge_lo < edge_hi
        for day in days(edge_lo, edge_hi):
            count[day] += sign
    assert +count == Counter(days(f.start, f.end + DAY))
    assert -count == Counter()
