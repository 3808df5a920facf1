"""The totals of totals.sql (and of venture_stage_totals.sql for Venture health's grid): one
definition of every total and weighted rate, grouped as a caller asks, that the pages' figures are
read from.

Each function applies both tenancy locks: it runs in the user's scoped transaction (RLS as the
user) and binds ``company_id = ANY(:company_ids)`` with the scope's companies intersected with the
choice. When that intersection is empty it answers at once, without SQL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Row

from queries import periods
from queries.criteria import Filters, Scope, sql_params
from queries.frames import Columns, empty, from_rows
from queries.transactions import fetch

STAGE_IDS = range(1, 41)

# The measures of totals.sql, in the order the frames show them.
MEASURES: Columns = {
    "rows": "int",
    "actions": "int",
    "successes": "int",
    "failures": "int",
    "error_rate": "float",
    "handoff_efficiency": "float",
    "mean_stage_duration_s": "float",
    "interventions": "int",
    "approvals": "int",
    "rejections": "int",
    "compute_cost": "float",
    "api_calls": "int",
    "data_quality": "float",
    "confidence": "float",
}
# The share of a figure's base that low-confidence rows carry (0..1; NaN without rows): of the
# actions where there are any, else of the rows; of the measured durations in stage_durations.
LOW: Columns = {"low_share": "float"}
# Sums: zero, not NaN, where no row matches.
SUMS = {name for name, kind in MEASURES.items() if kind == "int"} | {"compute_cost"}
_TOTALS: Columns = {
    "is_current": "bool",
    "bucket": "ts",
    "company_id": "str",
    "venture_id": "str",
    "stage_id": "Int64",
    **MEASURES,
    "measured": "int",
    "cost_per_success": "float",
    "response_s": "float",
    "error_actions": "int",
    "handoff_actions": "int",
    "low_rows": "int",
    "low_actions": "int",
    "low_durations": "int",
    "low_error_actions": "int",
    "low_handoff_actions": "int",
    **LOW,
    "low_duration_share": "float",
    "company": "str",
    "venture": "str",
}
# The columns of totals.sql that need only the sums it carries without all_sums.
_NARROW = frozenset(
    "is_current bucket company_id venture_id stage_id company venture rows actions error_rate"
    " handoff_efficiency measured error_actions handoff_actions low_durations low_error_actions"
    " low_handoff_actions low_duration_share".split()
)
# Venture health's grid (venture_stage_totals.sql).
VENTURE_STAGES: Columns = {
    name: _TOTALS[name]
    for name in (
        "company_id company venture_id venture stage_id rows actions measured low_durations"
        " error_rate error_actions low_error_actions handoff_efficiency handoff_actions"
        " low_handoff_actions"
    ).split()
} | {"stage_id": "int"}


def totals_frame(
    engine: Engine,
    scope: Scope,
    f: Filters,
    *,
    keep: Iterable[str] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """totals.sql as a frame of the columns ``keep`` (all by default): a page of ten thousand
    groups pays for the columns it shows only. ``options``: those of :func:`total_rows`."""
    columns = _TOTALS if keep is None else {name: _TOTALS[name] for name in keep}
    rows = total_rows(engine, scope, f, all_sums=not _NARROW.issuperset(columns), **options)
    return from_rows(rows, columns, f.tz) if rows is not None else empty(columns, f.tz)


def total_rows(
    engine: Engine,
    scope: Scope,
    f: Filters,
    *,
    by_bucket: bool = False,
    by_venture: bool = False,
    by_stage: bool = False,
    previous: bool = False,
    threshold: float | None = None,
    all_sums: bool = True,
) -> list[Row[Any]] | None:
    """totals.sql's rows (None when the scope and the filters share no company). ``threshold``:
    the low-confidence threshold of the ``low_*`` columns; None when they are not wanted (then
    they are not to be trusted, and any rollup threshold serves). Without ``all_sums`` only the
    columns in ``_NARROW`` are right."""
    params = sql_params(scope, f)
    if params is None:
        return None
    # totals.sql reads from start_ts and counts the rows from current_ts on as the current period.
    params["current_ts"] = params["start_ts"]
    if previous:
        params["start_ts"] = f.previous().bounds()[0]
    params.update(by_bucket=by_bucket, by_venture=by_venture, by_stage=by_stage)
    params["threshold"] = threshold
    params["all_sums"] = all_sums
    # Whole months serve every grouping but buckets of days and weeks, which months cut across.
    months = not by_bucket or f.grain == "month"
    params.update(periods.total_cells(f, previous, months))
    return fetch(engine, scope, "totals", params)


def venture_period_rows(engine: Engine, scope: Scope, f: Filters) -> list[Row[Any]]:
    """Per company and venture (rows without a venture left out), the totals of the period and
    of the previous one of equal length (``is_current``), whatever ventures ``f`` chooses: the
    rows of totals.sql, among their columns ``cost_per_success`` (recorded costs over
    successes) and ``response_s`` (mean agent response time in seconds). For the "What changed"
    ranking."""
    every = replace(f, venture_ids=())
    rows = total_rows(engine, scope, every, by_venture=True, previous=True)
    return [r for r in rows or () if r.venture_id is not None]


def _one_row(frame: pd.DataFrame, prefix: str = "") -> dict[str, Any]:
    """The measures of a frame of at most one row; zero counts and NaN rates when it has none."""
    if frame.empty:
        return {prefix + k: (0 if k in SUMS else math.nan) for k in {**MEASURES, **LOW}}
    first = frame.iloc[0]
    return {prefix + k: first[k] for k in {**MEASURES, **LOW}}


def all_stages(frame: pd.DataFrame, columns: Columns) -> pd.DataFrame:
    by_stage = frame.set_index(frame["stage_id"].astype("int64"))
    full = by_stage.reindex(STAGE_IDS)
    full["stage_id"] = list(STAGE_IDS)
    for name, kind in columns.items():
        if name in SUMS or name in ("rows", "measured"):
            full[name] = full[name].fillna(0).astype("int64" if kind == "int" else "float64")
    return full.reset_index(drop=True)[list(columns)]


def venture_stages(engine: Engine, scope: Scope, f: Filters, threshold: float) -> pd.DataFrame:
    """The totals of each company, venture and stage (:data:`VENTURE_STAGES`, low sums at
    ``threshold``) in the period, rows without a stage left out; rows without a venture are a
    group per company and stage (venture_id missing): Venture health's cells and stage
    baselines. The measures are those of totals.sql, read through venture_stage_totals.sql,
    which carries only these columns through the grid's thousands of rollup rows."""
    params = sql_params(scope, f)
    if params is None:
        return empty(VENTURE_STAGES, f.tz)
    params["threshold"] = threshold
    params.update(periods.total_cells(f, previous=False, months=True))
    rows = fetch(engine, scope, "venture_stage_totals", params)
    return from_rows(rows, VENTURE_STAGES, f.tz)
