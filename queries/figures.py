"""The pages' figures from the totals: the KPI tiles and their trend, the rates per stage, and
per period bucket and venture the error rates, handoff efficiency and chairman interventions.

Units: durations are seconds (float), ``error_rate`` 0..1, ``handoff_efficiency`` and scores
0..100, money as stored, counts are integers, timestamps tz-aware in the filter's zone.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from queries.criteria import Filters, Scope
from queries.frames import Columns, typed
from queries.low_confidence import threshold_or_default
from queries.totals import LOW, MEASURES, SUMS, all_stages, totals_frame

KPIS: Columns = {
    **MEASURES,
    **LOW,
    **{f"prev_{name}": kind for name, kind in {**MEASURES, **LOW}.items()},
}
TREND: Columns = {"bucket": "ts", **MEASURES, **LOW}
STAGE_RATES: Columns = {"stage_id": "int", **MEASURES, **LOW}
_VENTURE: Columns = {
    "bucket": "ts",
    "venture_id": "str",
    "venture": "str",
    "company_id": "str",
    "company": "str",
    "rows": "int",
    "actions": "int",
}
ERROR_RATES: Columns = {**_VENTURE, "error_rate": "float", **LOW}
HANDOFF_EFFICIENCY: Columns = {**_VENTURE, "handoff_efficiency": "float", **LOW}
CHAIRMAN_INTERVENTIONS: Columns = {
    **_VENTURE,
    "interventions": "int",
    "approvals": "int",
    "rejections": "int",
    **LOW,
}


def _one_row(frame: pd.DataFrame, prefix: str = "") -> dict[str, Any]:
    """The measures of a frame of at most one row; zero counts and NaN rates when it has none."""
    if frame.empty:
        return {prefix + k: (0 if k in SUMS else math.nan) for k in {**MEASURES, **LOW}}
    first = frame.iloc[0]
    return {prefix + k: first[k] for k in {**MEASURES, **LOW}}


def kpis(engine: Engine, scope: Scope, f: Filters, threshold: float | None = None) -> pd.DataFrame:
    """One row: the period's totals and weighted rates, and the same prefixed ``prev_`` for the
    previous period of equal length (:meth:`Filters.previous`).

    Columns: ``rows actions successes failures error_rate handoff_efficiency
    mean_stage_duration_s interventions approvals rejections compute_cost api_calls data_quality
    confidence`` and ``prev_`` + each. Counts are sums (0 when nothing matches), rates are
    weighted by action_count (NaN when no row has both), ``data_quality`` and ``confidence`` are
    plain means of the rows' scores, ``compute_cost`` is the sum of the recorded costs.
    ``low_share`` (and ``prev_low_share``): the share of the actions (of the rows when there are
    no actions) that low-confidence rows carry, at ``threshold`` (None: the configured one).
    """
    keep = ["is_current", *MEASURES, *LOW]
    low = threshold_or_default(threshold)
    totals = totals_frame(engine, scope, f, previous=True, keep=keep, threshold=low)
    row = _one_row(totals[totals["is_current"]]) | _one_row(totals[~totals["is_current"]], "prev_")
    return typed([row], KPIS, f.tz)


def kpi_trend(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """The measures of :func:`kpis` per period bucket (``f.grain`` in ``f.tz``), oldest first,
    with ``low_share``; buckets without rows are absent."""
    low = threshold_or_default(threshold)
    totals = totals_frame(engine, scope, f, by_bucket=True, keep=TREND, threshold=low)
    return totals.sort_values("bucket", ignore_index=True)


def stage_rates(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """The measures of :func:`kpis` per stage, with ``low_share``, all 40 stages in order (zero
    counts and NaN rates where a stage has no rows). Rows without a stage are left out."""
    low = threshold_or_default(threshold)
    totals = totals_frame(engine, scope, f, by_stage=True, keep=STAGE_RATES, threshold=low)
    return all_stages(totals.dropna(subset=["stage_id"]), STAGE_RATES)


def _per_venture(
    engine: Engine, scope: Scope, f: Filters, columns: Columns, threshold: float | None
) -> pd.DataFrame:
    low = threshold_or_default(threshold)
    totals = totals_frame(
        engine, scope, f, by_bucket=True, by_venture=True, keep=columns, threshold=low
    )
    return totals.sort_values(
        ["bucket", "company", "venture", "company_id", "venture_id"], ignore_index=True
    )


def error_rates(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """Per period bucket and venture: ``actions`` and the weighted ``error_rate`` (0..1).

    Columns ``bucket venture_id venture company_id company rows actions error_rate low_share``;
    rows are grouped by (bucket, company, venture), a NULL venture_id being a group of its own.
    ``low_share`` as in :func:`kpis`, at ``threshold`` (None: the configured one).
    """
    return _per_venture(engine, scope, f, ERROR_RATES, threshold)


def handoff_efficiency(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """Per period bucket and venture: ``actions`` and the weighted ``handoff_efficiency``
    (0..100), with ``low_share``; the grouping of :func:`error_rates`."""
    return _per_venture(engine, scope, f, HANDOFF_EFFICIENCY, threshold)


def chairman_interventions(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """Per period bucket and venture: sums of ``interventions approvals rejections`` (and
    ``actions``), with ``low_share``; the grouping of :func:`error_rates`."""
    return _per_venture(engine, scope, f, CHAIRMAN_INTERVENTIONS, threshold)
