"""Venture health: where a venture stands against its stage, its peers and its own past.

Three questions a chairman asks that a generic BI tool cannot answer, because it does not know
that ventures move through 40 ordered stages, that interventions are decisions, and that rows
carry their own quality and confidence:

- :func:`venture_stage_health`: per venture and stage, the median stage duration, error rate and
  handoff efficiency against that stage's baseline over every venture in view, and against the
  median of the other ventures (the peer benchmark), with the share carried by low-confidence
  rows.
- :func:`venture_changes`: the "What changed" ranking: each venture's largest deterioration
  against the previous period of equal length, scored against the spread across ventures.
- :func:`cell_rows`: the raw rows behind one venture x stage cell (the drill-down).

Both tenancy locks hold as everywhere: the SQL runs in ``db.scoped()`` and filters
``company_id = ANY(:company_ids)`` with the scope's companies intersected with the choice; an
empty intersection answers an empty frame without SQL. The venture choice narrows the ventures
shown, never the baselines, peers or spread they are compared with.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from queries.confidence import DEFAULT_THRESHOLD as DEFAULT_THRESHOLD
from queries.confidence import default_threshold, valid_threshold
from queries.errors import InvalidFilter
from queries.filters import Filters, Scope, sql_params, valid_id
from queries.frames import Columns, empty, typed
from queries.metrics import _valid_limit, fetch, metric_rows, venture_periods

# The three measures of the heatmap, and the direction in which each is worse.
MEASURES = ("duration", "error_rate", "handoff_efficiency")
DEFAULT_MIN_ACTIONS = 200
# MAD of a normal distribution is 0.6745 sigma: this makes the robust spread a sigma.
_MAD_TO_SIGMA = 1.4826

_CELL_SQL: Columns = {
    "is_baseline": "bool",
    "stage_id": "int",
    "company_id": "str",
    "venture_id": "str",
    "rows": "int",
    "actions": "int",
    "measured": "int",
    "low_measured": "int",
    "p50_s": "float",
    "error_rate": "float",
    "error_actions": "int",
    "low_error_actions": "int",
    "handoff_efficiency": "float",
    "handoff_actions": "int",
    "low_handoff_actions": "int",
    "company": "str",
    "venture": "str",
}
CELLS: Columns = {
    "company_id": "str",
    "company": "str",
    "venture_id": "str",
    "venture": "str",
    "stage_id": "int",
    "rows": "int",
    "actions": "int",
    "p50_s": "float",
    "error_rate": "float",
    "handoff_efficiency": "float",
    "base_p50_s": "float",
    "base_error_rate": "float",
    "base_handoff_efficiency": "float",
    "peers": "int",
    "peer_p50_s": "float",
    "peer_error_rate": "float",
    "peer_handoff_efficiency": "float",
    "low_share_duration": "float",
    "low_share_error_rate": "float",
    "low_share_handoff_efficiency": "float",
}
VALUE_COLUMN = {
    "duration": "p50_s",
    "error_rate": "error_rate",
    "handoff_efficiency": "handoff_efficiency",
}

_CHANGE_SQL: Columns = {
    "is_current": "bool",
    "company_id": "str",
    "venture_id": "str",
    "rows": "int",
    "actions": "int",
    "successes": "int",
    "error_rate": "float",
    "handoff_efficiency": "float",
    "cost_per_success": "float",
    "response_s": "float",
    "company": "str",
    "venture": "str",
}
# The ranking's measures: (column, how its deterioration is computed, words for the reason).
CHANGE_MEASURES = ("error_rate", "handoff_efficiency", "cost_per_success", "response_s")
CHANGES: Columns = {
    "venture_id": "str",
    "venture": "str",
    "company_id": "str",
    "company": "str",
    "actions": "int",
    "prev_actions": "int",
    **{m: "float" for m in CHANGE_MEASURES},
    **{f"prev_{m}": "float" for m in CHANGE_MEASURES},
    **{f"worse_{m}": "float" for m in CHANGE_MEASURES},
    **{f"z_{m}": "float" for m in CHANGE_MEASURES},
    "eligible": "bool",
    "score": "float",
    "measure": "str",
    "reason": "str",
}


def _valid_min_actions(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
        raise InvalidFilter("The minimum number of actions is a whole number of 0 or more.")
    return value


# ---- the heatmap and the peer benchmark -----------------------------------------------------


def _share(low: pd.Series, base: pd.Series) -> pd.Series:
    return (low / base.where(base > 0)).astype("float64")


def _peer_median(cells: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """For each cell, the median of ``column`` over the *other* ventures at the same stage, and
    how many of them have a value."""
    medians = pd.Series(math.nan, index=cells.index, dtype="float64")
    counts = pd.Series(0, index=cells.index, dtype="int64")
    for _, stage in cells.groupby("stage_id"):
        values = stage[column]
        for index in stage.index:
            others = values.drop(index).dropna()
            counts[index] = len(others)
            medians[index] = float(np.median(others)) if len(others) else math.nan
    return medians, counts


def venture_stage_health(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """One row per venture and stage with rows in the period (chosen ventures and stages only).

    Columns (:data:`CELLS`): the cell's ``rows actions``, median stage duration ``p50_s``
    (seconds), weighted ``error_rate`` (0..1) and ``handoff_efficiency`` (0..100); the stage's
    baseline over every venture in view (``base_*``: the same figures over all their rows at the
    stage); the peer benchmark (``peer_*``: the median of the other ventures' own figures at the
    stage, ``peers`` of them with a duration); and ``low_share_*``: the share of each figure's
    base (measured rows for the duration, weighted actions for the rates) that comes from rows
    whose data_quality_score or confidence_score is below ``threshold`` (0..1, NaN without base).
    Sorted by company, venture and stage.
    """
    limit = default_threshold() if threshold is None else valid_threshold(threshold)
    params = sql_params(scope, f)
    if params is None:
        return empty(CELLS, f.tz)
    raw = typed(
        [
            dict(r._mapping)
            for r in fetch(engine, scope, "health_cells", params | {"threshold": limit})
        ],
        _CELL_SQL,
        f.tz,
    )
    base = raw[raw["is_baseline"]].set_index("stage_id")
    cells = raw[~raw["is_baseline"]].reset_index(drop=True)
    for column in ("p50_s", "error_rate", "handoff_efficiency"):
        cells[f"base_{column}"] = cells["stage_id"].map(base[column]).astype("float64")
        cells[f"peer_{column}"], counts = _peer_median(cells, column)
        if column == "p50_s":
            cells["peers"] = counts
    cells["low_share_duration"] = _share(cells["low_measured"], cells["measured"])
    cells["low_share_error_rate"] = _share(cells["low_error_actions"], cells["error_actions"])
    cells["low_share_handoff_efficiency"] = _share(
        cells["low_handoff_actions"], cells["handoff_actions"]
    )
    if f.venture_ids:
        cells = cells[cells["venture_id"].isin(f.venture_ids)]
    cells = cells.sort_values(["company", "venture", "venture_id", "stage_id"], ignore_index=True)
    return typed(cells[list(CELLS)].to_dict("records"), CELLS, f.tz)


def worse_by(value: Any, reference: Any, measure: str) -> float:
    """How much worse ``value`` is than ``reference``; negative when it is better.

    ``duration``: per cent longer (NaN unless the reference is positive); ``error_rate`` (0..1):
    percentage points higher; ``handoff_efficiency`` (0..100): percentage points lower.
    """
    if measure not in MEASURES:
        raise ValueError(f"not a health measure: {measure!r}")
    v, r = _float(value), _float(reference)
    if math.isnan(v) or math.isnan(r):
        return math.nan
    if measure == "duration":
        return 100.0 * (v - r) / r if r > 0 else math.nan
    if measure == "error_rate":
        return 100.0 * (v - r)
    return r - v


def deviations(cells: pd.DataFrame, measure: str, against: str = "base") -> pd.Series:
    """:func:`worse_by` of each cell against its stage's baseline (``base``) or peers (``peer``)."""
    if against not in ("base", "peer"):
        raise ValueError(f"compare against base or peer, not {against!r}")
    column = VALUE_COLUMN[measure]
    return pd.Series(
        [
            worse_by(v, r, measure)
            for v, r in zip(cells[column], cells[f"{against}_{column}"], strict=True)
        ],
        index=cells.index,
        dtype="float64",
    )


def low_share(cells: pd.DataFrame, measure: str) -> pd.Series:
    return cells[f"low_share_{measure}"]


def _float(value: Any) -> float:
    if value is None or value is pd.NA:
        return math.nan
    return float(value)


# ---- the drill-down --------------------------------------------------------------------------


def cell_rows(
    engine: Engine, scope: Scope, f: Filters, venture_id: str, stage_id: int, limit: int = 5_000
) -> pd.DataFrame:
    """The raw rows behind one heatmap cell: :func:`~queries.metrics.metric_rows` of the period
    for that venture and stage only (newest first, at most ``limit``). A venture outside the
    scope or the chosen companies selects nothing, exactly like an unknown one."""
    narrowed = replace(f, venture_ids=(valid_id(venture_id, "ventures"),), stages=(stage_id,))
    return metric_rows(engine, scope, narrowed, limit=_valid_limit(limit))


# ---- "What changed" ----------------------------------------------------------------------------


def _worse(now: pd.Series, before: pd.Series, measure: str) -> pd.Series:
    if measure == "error_rate":
        return 100.0 * (now - before)  # points of percent
    if measure == "handoff_efficiency":
        return before - now  # points of percent, lower is worse
    return (now - before) / before.where(before > 0) * 100.0  # per cent more cost or time


def robust_z(values: pd.Series) -> pd.Series:
    """``(value - median) / spread`` with spread = 1.4826 x MAD (a sigma for normal data), or
    the standard deviation when the MAD is 0, or all zeros when both are; NaN stays NaN."""
    known = values.dropna()
    if known.empty:
        return values * math.nan
    center = float(known.median())
    spread = _MAD_TO_SIGMA * float((known - center).abs().median())
    if not spread > 0:
        spread = float(known.std(ddof=0))
    if not spread > 0:
        return values.where(values.isna(), 0.0)
    return (values - center) / spread


_WORDS = {
    "error_rate": ("error rate", lambda v: f"{100 * v:.1f}%"),
    "handoff_efficiency": ("handoff efficiency", lambda v: f"{v:.1f}%"),
    "cost_per_success": ("compute cost per success", lambda v: f"{v:,.2f}"),
    "response_s": ("agent response time", lambda v: f"{v:,.1f} s"),
}


def _reason(row: dict[Any, Any], min_actions: int) -> tuple[float, str, str]:
    if not row["eligible"]:
        return math.nan, "", f"fewer than {min_actions:,} actions in one of the periods"
    scored = [(row[f"z_{m}"], m) for m in CHANGE_MEASURES if not math.isnan(row[f"z_{m}"])]
    if not scored:
        return math.nan, "", "no measure to compare"
    z, measure = max(scored)
    words, shown = _WORDS[measure]
    before, now = row[f"prev_{measure}"], row[measure]
    way = "down" if measure == "handoff_efficiency" else "up"
    if row[f"worse_{measure}"] <= 0:
        way = "steady or better"
        return z, measure, f"{words} {way}: {shown(before)} → {shown(now)} (z {z:+.1f})"
    return z, measure, f"{words} {way} from {shown(before)} to {shown(now)} (z {z:+.1f})"


def venture_changes(
    engine: Engine, scope: Scope, f: Filters, min_actions: int = DEFAULT_MIN_ACTIONS
) -> pd.DataFrame:
    """Ventures ordered by their largest deterioration against the previous period.

    For each venture in view and each measure m of error rate, handoff efficiency, compute cost
    per success and agent response time, ``worse_m`` is the deterioration (points of percent for
    the rates, per cent for cost and response time; negative is an improvement). A venture is
    ``eligible`` with at least ``min_actions`` actions in both periods; over the eligible ones,
    ``z_m`` is the robust z-score of ``worse_m`` (:func:`robust_z`): how unusual the venture's
    change is against the spread of every venture's change. ``score`` is the largest ``z_m``,
    ``measure`` names it and ``reason`` says it in words. Small ventures, whose rates swing by
    chance, are not scored (NaN) and come last. The chosen ventures are kept; the spread is that
    of every venture in view.
    """
    minimum = _valid_min_actions(min_actions)
    if sql_params(scope, f) is None:
        return empty(CHANGES, f.tz)
    # The totals of both periods per venture, from the rollups where they serve.
    raw = venture_periods(engine, scope, f)[list(_CHANGE_SQL)]
    keys = ["company_id", "venture_id"]
    now = raw[raw["is_current"]]
    before = raw[~raw["is_current"]][keys + ["actions", *CHANGE_MEASURES]]
    both = now.merge(before, on=keys, how="left", suffixes=("", "_prev"))
    both = both.rename(columns={f"{m}_prev": f"prev_{m}" for m in [*CHANGE_MEASURES, "actions"]})
    both["prev_actions"] = both["prev_actions"].fillna(0).astype("int64")
    both["eligible"] = (both["actions"] >= minimum) & (both["prev_actions"] >= minimum)
    for m in CHANGE_MEASURES:
        both[f"worse_{m}"] = _worse(both[m], both[f"prev_{m}"], m).astype("float64")
        both[f"z_{m}"] = robust_z(both[f"worse_{m}"].where(both["eligible"])).astype("float64")
    records = both.to_dict("records")
    for r in records:
        r["score"], r["measure"], r["reason"] = _reason(r, minimum)
    frame = typed(records, CHANGES, f.tz)
    if f.venture_ids:
        frame = frame[frame["venture_id"].isin(f.venture_ids)]
    return frame.sort_values(
        ["score", "actions", "venture", "venture_id"],
        ascending=[False, False, True, True],
        na_position="last",
        ignore_index=True,
    )
