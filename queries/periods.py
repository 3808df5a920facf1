"""Which rollup rows cover a period: whole local months where they fit, single days elsewhere.

The rollups (migration 0004) hold sums per local day and per local month of the rollup zone, and
cumulative duration histograms per day and per month boundary. A period of ``Filters`` is a run
of whole local days, so it is exactly a set of such cells; reading months instead of their days
makes an all-time page read some twenty rows per venture and stage instead of five hundred.
Everything here is pure date arithmetic on local dates; the SQL decides whether the filter's
zone is the rollup zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from queries.filters import Filters

DAY = timedelta(days=1)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def cover(first: date, last: date, months: bool) -> Iterator[tuple[str, date, date]]:
    """``(span, lo, hi)`` cells, half-open in days, that cover ``[first, last]`` exactly once:
    the whole months inside (when ``months``), and the days before and after them."""
    after = last + DAY
    lo = first if first.day == 1 else next_month(first)
    hi = month_start(after)
    if not months or lo >= hi:
        yield "day", first, after
        return
    if first < lo:
        yield "day", first, lo
    yield "month", lo, hi
    if hi < after:
        yield "day", hi, after


def total_cells(f: Filters, previous: bool, months: bool) -> dict[str, Any]:
    """The parameters of totals.sql that name its rollup cells and its range of days."""
    periods = [f.previous(), f] if previous else [f]
    cells = [cell for p in periods for cell in cover(p.start, p.end, months)]
    return {
        "cell_span": [span for span, _, _ in cells],
        "cell_lo": [lo for _, lo, _ in cells],
        "cell_hi": [hi for _, _, hi in cells],
        "first_day": periods[0].start,
        "start_day": f.start,
        "end_day": f.end + DAY,
    }


def nearest_boundary(day: date) -> date:
    """The first day of a month closest to ``day`` (the earlier one on a tie)."""
    before, after = month_start(day), next_month(day)
    return before if day - before <= after - day else after


def percentile_cells(f: Filters) -> dict[str, Any]:
    """The parameters of duration_percentiles.sql: the period's days, the month boundaries
    nearest to its ends, and the signed ranges of days between them and the period's ends."""
    after = f.end + DAY
    month_lo, month_hi = nearest_boundary(f.start), nearest_boundary(after)
    edges: list[tuple[date, date, int]] = []
    if month_lo >= month_hi:
        month_lo = month_hi = f.start
        edges.append((f.start, after, 1))
    else:
        if f.start != month_lo:
            edges.append((f.start, month_lo, 1) if f.start < month_lo else (month_lo, f.start, -1))
        if after != month_hi:
            edges.append((month_hi, after, 1) if month_hi < after else (after, month_hi, -1))
    return {
        "first_day": f.start,
        "last_day": f.end,
        "month_lo": month_lo,
        "month_hi": month_hi,
        "edge_lo": [lo for lo, _, _ in edges],
        "edge_hi": [hi for _, hi, _ in edges],
        "edge_sign": [sign for _, _, sign in edges],
    }
