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


def signed_days(cells: list[tuple[str, date, date, int]]) -> Counter[date]:
    count: Counter[date] = Counter()
    for span, lo, hi, sign in cells:
        assert lo < hi and sign in (1, -1)
        if span == "month":
            assert lo.day == 1 and hi.day == 1 and sign == 1
        for d in month_days(lo, hi) if span == "month" else days(lo, hi):
            count[d] += sign
    assert -count == Counter(), "a day subtracted more often than added"
    return +count


@given(first=DATES, length=st.integers(0, 800), months=st.booleans())
def test_cells_cover_each_day_of_the_period_once(first: date, length: int, months: bool) -> None:
    last = first + length * DAY
    cells = list(periods.cover(first, last, months))
    assert months or all(span == "day" for span, *_ in cells)
    assert signed_days(cells) == Counter(days(first, last + DAY))
    # Day cells reach at most half a month beyond or before either end.
    for span, lo, hi, _sign in cells:
        assert span == "month" or (hi - lo).days <= 16 or len(cells) == 1


def test_months_are_used_where_they_fit() -> None:
    cells = list(periods.cover(date(2025, 12, 30), date(2026, 6, 30), months=True))
    assert cells == [
        ("day", date(2025, 12, 30), date(2026, 1, 1), 1),
        ("month", date(2026, 1, 1), date(2026, 7, 1), 1),
    ]
    # An end near the next boundary: the whole month, less its days after the period.
    assert list(periods.cover(date(2026, 1, 3), date(2026, 3, 26), months=True)) == [
        ("day", date(2026, 1, 1), date(2026, 1, 3), -1),
        ("month", date(2026, 1, 1), date(2026, 4, 1), 1),
        ("day", date(2026, 3, 27), date(2026, 4, 1), -1),
    ]
    # A month less ten days is eleven rows, the eighteen days themselves eighteen.
    assert list(periods.cover(date(2026, 2, 3), date(2026, 2, 20), months=True)) == [
        ("day", date(2026, 2, 1), date(2026, 2, 3), -1),
        ("month", date(2026, 2, 1), date(2026, 3, 1), 1),
        ("day", date(2026, 2, 21), date(2026, 3, 1), -1),
    ]
    assert list(periods.cover(date(2026, 2, 10), date(2026, 2, 12), months=True)) == [
        ("day", date(2026, 2, 10), date(2026, 2, 13), 1)
    ]


@given(start=DATES, length=st.integers(0, 800), previous=st.booleans(), months=st.booleans())
def test_total_cells_cover_both_periods(
    start: date, length: int, previous: bool, months: bool
) -> None:
    f = Filters(start=start, end=start + length * DAY)
    p = periods.total_cells(f, previous, months)
    cells = list(zip(p["cell_span"], p["cell_lo"], p["cell_hi"], p["cell_sign"], strict=True))
    current = p["cell_current"]
    assert signed_days([c for c, now in zip(cells, current, strict=True) if now]) == Counter(
        days(f.start, f.end + DAY)
    )
    before = signed_days([c for c, now in zip(cells, current, strict=True) if not now])
    prev = f.previous()
    assert before == (Counter(days(prev.start, prev.end + DAY)) if previous else Counter())


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
