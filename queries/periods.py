"""Which rollup rows cover a period: whole local months where they fit, single days elsewhere.

The rollups (migration f04) hold sums per local day and per local month of the rollup zone, and
cumulative duration histograms per day and per month boundary. A period of ``Filters`` is a run
of whole local days, so it is exactly a signed set of such cells (months, plus or minus a few
days); reading months instead of their days makes an all-time page read some twenty rows per
venture and stage instead of five hundred.
Everything here is pure date arithmetic on local dates; the SQL decides whether the filter's
zone is the rollup zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from queries.criteria import Filters

DAY = timedelta(days=1)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def cover(first: date, last: date, months: bool) -> Iterator[tuple[str, date, date, int]]:
    """``(span, lo, hi, sign)`` cells, half-open in days, whose signed sum is ``[first, last]``
    exactly: the whole months between the month boundaries nearest to the period's ends (when
    ``months``), plus the days between each end and its boundary, added where they lie inside
    the period and subtracted where they lie outside. Nearest boundaries keep the day cells to
    half a month at each end (none at an end that is today: its month's later days are empty)."""
    after = last + DAY
    lo, hi = nearest_boundary(first), nearest_boundary(after)
    if not months or lo >= hi:
        yield "day", first, after, 1
        return
    if first < lo:
        yield "day", first, lo, 1
    elif lo < first:
        yield "day", lo, first, -1
    yield "month", lo, hi, 1
    if hi < after:
        yield "day", hi, after, 1
    elif after < hi:
        yield "day", after, hi, -1


def total_cells(f: Filters, previous: bool, months: bool) -> dict[str, Any]:
    """The parameters of totals.sql that name its rollup cells, each with its sign and whether
    it counts for the current period or the previous one."""
    periods = [(f.previous(), False), (f, True)] if previous else [(f, True)]
    cells = [(*cell, current) for p, current in periods for cell in cover(p.start, p.end, months)]
    return {
        "cell_span": [c[0] for c in cells],
        "cell_lo": [c[1] for c in cells],
        "cell_hi": [c[2] for c in cells],
        "cell_sign": [c[3] for c in cells],
        "cell_current": [c[4] for c in cells],
    }


def nearest_boundary(day: date) -> date:
    """The first day of a month closest to ``day`` (the earlier one on a tie)."""
    before, after = month_start(day), next_month(day)
    return before if day - before <= after - day else after


def percentile_cells(f: Filters) -> dict[str, Any]:
    """The parameters of duration_ranks.sql: the period's days, the month boundaries
    nearest to its ends, and the signed ranges of days between them and the period's ends
    (the cells of :func:`cover`)."""
    cells = list(cover(f.start, f.end, months=True))
    month = [(lo, hi) for span, lo, hi, _ in cells if span == "month"]
    month_lo, month_hi = month[0] if month else (f.start, f.start)
    edges = [(lo, hi, sign) for span, lo, hi, sign in cells if span == "day"]
    return {
        "first_day": f.start,
        "last_day": f.end,
        "month_lo": month_lo,
        "month_hi": month_hi,
        "edge_lo": [lo for lo, _, _ in edges],
        "edge_hi": [hi for _, hi, _ in edges],
        "edge_sign": [sign for _, _, sign in edges],
    }
