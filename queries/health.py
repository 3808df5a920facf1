"""Venture health: where a venture stands against its stage, its peers and its own past.

Three questions a chairman asks that a generic BI tool cannot answer, because it does not know
that ventures move through 40 ordered stages, that interventions are decisions, and that rows
carry their own quality and confidence:

- :func:`venture_stage_health`: per venture and stage, the median stage duration, error rate and
  handoff efficiency against that stage's baseline (every row in view at the stage), and
  against the median of the other ventures (the peer benchmark), with the share carried by
  low-confidence rows.
- :func:`venture_changes`: the "What changed" ranking: each venture's largest deterioration
  against the previous period of equal length, scored against the spread across ventures.
- :func:`cell_rows`: the raw rows behind one venture x stage cell (the drill-down).

Both tenancy locks hold as everywhere: the SQL runs in ``transactions.scoped()`` and filters
``company_id = ANY(:company_ids)`` with the scope's companies intersected with the choice; an
empty intersection answers an empty frame without SQL. The venture choice narrows the ventures
shown, never the baselines, peers or spread they are compared with.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from queries import side_reads, transactions
from queries.criteria import Filters, Scope, sql_params, valid_id, valid_limit
from queries.durations import stage_percentiles
from queries.errors import InvalidFilter
from queries.frames import Columns, conform, empty, typed
from queries.low_confidence import DEFAULT_THRESHOLD as DEFAULT_THRESHOLD
from queries.low_confidence import default_threshold, valid_threshold
from queries.rows import metric_rows
from queries.totals import venture_period_rows, venture_stages
from queries.transactions import fetch

# The three measures of the heatmap, and the direction in which each is worse.
MEASURES = ("duration", "error_rate", "handoff_efficiency")
DEFAULT_MIN_ACTIONS = 200
# MAD of a normal distribution is 0.6745 sigma: this makes the robust spread a sigma.
_MAD_TO_SIGMA = 1.4826

_CELL_KEYS = ("company_id", "venture_id", "stage_id")
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
# One measure of the cells, against one reference: what the heatmap draws (heatmap_cells).
_HEATMAP_KEPT = ("company_id", "company", "venture_id", "venture", "stage_id", "rows", "actions")
HEATMAP: Columns = {
    **{name: CELLS[name] for name in _HEATMAP_KEPT},
    "value": "float",
    "base": "float",
    "peer": "float",
    "peers": "int",
    "worse": "float",
    "low_share": "float",
}
VALUE_COLUMN = {
    "duration": "p50_s",
    "error_rate": "error_rate",
    "handoff_efficiency": "handoff_efficiency",
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


def _share(low: np.ndarray, base: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, low / base, math.nan)


def _peer_median(cells: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """For each cell, the median of ``column`` over the *other* ventures at the same stage, and
    how many of them have a value. One sort by stage and value: the others of a cell are its
    stage's sorted values without the cell's own."""
    values = cells[column].to_numpy(dtype="float64")
    if not len(values):
        return pd.Series(dtype="float64"), pd.Series(dtype="int64")
    _, group = np.unique(cells["stage_id"].to_numpy(), return_inverse=True)
    has = ~np.isnan(values)
    known = np.flatnonzero(has)
    order = known[np.lexsort((values[known], group[known]))]
    ordered = values[order]  # the stages one after another, each ascending
    per_stage = np.bincount(group[known], minlength=int(group.max()) + 1)
    start = np.concatenate(([0], np.cumsum(per_stage)[:-1]))[group]
    n = per_stage[group]
    # A cell with a value has n - 1 others, and others[k] is the stage's k-th value, or the
    # (k + 1)-th from the cell's own position on; a cell without one has all n as others.
    mine = n.copy()
    mine[order] = np.arange(len(order)) - start[order]
    m = np.where(has, n - 1, n)
    lo, hi = (m - 1) // 2, m // 2
    ok = m > 0
    medians = np.full(len(values), math.nan)
    if len(ordered):
        last = len(ordered) - 1
        at_lo = np.minimum(start + np.where(ok, lo + (lo >= mine), 0), last)
        at_hi = np.minimum(start + np.where(ok, hi + (hi >= mine), 0), last)
        medians = np.where(ok, (ordered[at_lo] + ordered[at_hi]) / 2, math.nan)
    return (
        pd.Series(medians, index=cells.index, dtype="float64"),
        pd.Series(m, index=cells.index, dtype="int64"),
    )


def _measured(cells: pd.DataFrame, beside: bool) -> pd.DataFrame:
    """The cells with measured durations that the caller reads the medians of (two in three),
    or the side connection (every third: it reads the stages' medians first)."""
    measured = cells[cells["measured"] > 0]
    third = np.arange(len(measured)) % 3 == 2
    return measured[third if beside else ~third]


def _keyed(cells: pd.DataFrame, found: dict[tuple[str, str, int], float | None]) -> np.ndarray:
    keys = zip(*(cells[key] for key in _CELL_KEYS), strict=True)
    return np.array([found.get((c, v, int(s))) for c, v, s in keys], dtype="float64")


def _medians_of(
    engine: Engine, scope: Scope, f: Filters, cells: pd.DataFrame, params: dict[str, Any]
) -> dict[tuple[str, str, int], float | None]:
    if cells.empty:
        return {}
    fetch(engine, scope, "custom_plans", {})
    rows = fetch(
        engine,
        scope,
        "health_medians",
        params
        | {
            "first_day": f.start,
            "last_day": f.end,
            "cell_companies": list(cells["company_id"]),
            "cell_ventures": list(cells["venture_id"]),
            "cell_stages": [int(s) for s in cells["stage_id"]],
            "cell_measured": [int(n) for n in cells["measured"]],
        },
    )
    return {(r.company_id, r.venture_id, r.stage_id): r.p50_s for r in rows}


@contextmanager
def _settled(future: Future[Any]) -> Iterator[None]:
    """A side read waiting for ``future`` ends even when the caller fails before setting it."""
    try:
        yield
    finally:
        if not future.done():
            future.set_exception(RuntimeError("Venture health stopped before its cells"))


def _stage_rates(groups: pd.DataFrame, stage_of: np.ndarray) -> dict[str, np.ndarray]:
    """Per stage (``stage_of``: each group's index into the sorted distinct stages), its
    weighted rates over every row in view, summed back from the groups of each venture (and of
    the rows without one)."""
    rates: dict[str, np.ndarray] = {}
    for column, weight in (
        ("error_rate", "error_actions"),
        ("handoff_efficiency", "handoff_actions"),
    ):
        weights = groups[weight].to_numpy(dtype="float64")
        values = np.nan_to_num(groups[column].to_numpy(dtype="float64"))
        rates[column] = _share(
            np.bincount(stage_of, weights=values * weights), np.bincount(stage_of, weights=weights)
        )
    return rates


def _stage_medians(stages: np.ndarray, medians: dict[int, list[float | None]]) -> np.ndarray:
    """Per stage, its median from ``medians`` (the stage percentiles at 0.5 only)."""
    found = [medians.get(int(s), [None])[0] for s in stages]
    return np.array([math.nan if m is None else m for m in found], dtype="float64")


def venture_stage_health(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """One row per venture and stage with rows in the period (chosen ventures and stages only).

    Columns (:data:`CELLS`): the cell's ``rows actions``, median stage duration ``p50_s``
    (seconds), weighted ``error_rate`` (0..1) and ``handoff_efficiency`` (0..100); the stage's
    baseline (``base_*``: the same figures over every row in view at the stage, whatever its
    venture: the Stage durations and Error rates pages' figures without the venture choice); the
    peer benchmark (``peer_*``: the median of the other ventures' own figures at the stage,
    ``peers`` of them with a duration); and ``low_share_*``: the share of each figure's base
    (measured rows for the duration, weighted actions for the rates) that comes from rows whose
    data_quality_score or confidence_score is below ``threshold`` (0..1, NaN without base).
    Sorted by company, venture and stage.

    Cost: the counts, rates and shares come from the rollups (totals.sql), the baselines from
    the stage rollups and the exact percentile machinery of durations.stage_percentiles; only the
    cells' medians read raw rows, each cell its own durations in order through an index up to
    the middle one (health_medians.sql).
    """
    limit = default_threshold() if threshold is None else valid_threshold(threshold)
    params = sql_params(scope, f)
    if params is None:
        return empty(CELLS, f.tz)
    # The venture choice narrows the cells shown, never what they are compared with.
    every = replace(f, venture_ids=())
    # One snapshot for the counts and the medians at their middle rank: a row committed between
    # the two reads would shift the rank. A side connection in that snapshot (side_reads.beside)
    # reads the stages' medians while this one counts the cells, then each reads part of the
    # cells' medians: one side connection, not one per read, as a new backend costs more than a
    # read.
    known: Future[pd.DataFrame] = Future()

    def beside_the_caller() -> tuple[dict[int, list[float | None]], dict[Any, float | None]]:
        # On one side connection: the stages' medians, then a third of the cells' once counted.
        baselines = stage_percentiles(engine, scope, every, (0.5,))
        return baselines, _medians_of(engine, scope, f, _measured(known.result(), True), params)

    with transactions.scoped(engine, scope.user_id), _settled(known):
        side = side_reads.beside(beside_the_caller)
        groups = venture_stages(engine, scope, every, limit)
        stages, stage_of = np.unique(
            groups["stage_id"].to_numpy(dtype="int64"), return_inverse=True
        )
        is_cell = groups["venture_id"].notna().to_numpy()
        cell_stage = stage_of[is_cell]
        cells = groups[is_cell].reset_index(drop=True)
        cells["stage_id"] = cells["stage_id"].astype("int64")
        # A copy: this thread goes on adding columns to cells.
        known.set_result(cells[[*_CELL_KEYS, "measured"]].copy())
        for measure, low, weight in (
            ("duration", "low_durations", "measured"),
            ("error_rate", "low_error_actions", "error_actions"),
            ("handoff_efficiency", "low_handoff_actions", "handoff_actions"),
        ):
            cells[f"low_share_{measure}"] = _share(
                cells[low].to_numpy(dtype="float64"), cells[weight].to_numpy(dtype="float64")
            )
        for column, rate in _stage_rates(groups, stage_of).items():
            cells[f"base_{column}"] = rate[cell_stage]
            cells[f"peer_{column}"], _ = _peer_median(cells, column)
        found = _medians_of(engine, scope, f, _measured(cells, False), params)
        baselines, theirs = side()
        cells["p50_s"] = _keyed(cells, found | theirs)
        cells["base_p50_s"] = _stage_medians(stages, baselines)[cell_stage]
    cells["peer_p50_s"], cells["peers"] = _peer_median(cells, "p50_s")
    if f.venture_ids:
        cells = cells[cells["venture_id"].isin(f.venture_ids)]
    cells = cells.sort_values(["company", "venture", "venture_id", "stage_id"], ignore_index=True)
    return conform(cells, CELLS, f.tz)


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


def heatmap_cells(cells: pd.DataFrame, measure: str, against: str = "base") -> pd.DataFrame:
    """The cells of :func:`venture_stage_health` for one ``measure`` of :data:`MEASURES`, in the
    same order (:data:`HEATMAP`): the cell's ``value``, its stage baseline ``base`` and peer
    median ``peer`` (``peers`` of them), in the units of :data:`CELLS`; ``worse``, how much worse
    the value is than the reference ``against`` (``base`` or ``peer``, :func:`worse_by`); and
    ``low_share``, the share of the figure that low-confidence rows carry."""
    column = VALUE_COLUMN[measure]
    return pd.DataFrame(
        {
            **{name: cells[name] for name in _HEATMAP_KEPT},
            "value": cells[column],
            "base": cells[f"base_{column}"],
            "peer": cells[f"peer_{column}"],
            "peers": cells["peers"],
            "worse": deviations(cells, measure, against),
            "low_share": cells[f"low_share_{measure}"],
        },
        index=cells.index,
    )


def _float(value: Any) -> float:
    if value is None or value is pd.NA:
        return math.nan
    return float(value)


# ---- the drill-down --------------------------------------------------------------------------


def cell_rows(
    engine: Engine, scope: Scope, f: Filters, venture_id: str, stage_id: int, limit: int = 5_000
) -> pd.DataFrame:
    """The raw rows behind one heatmap cell: :func:`~queries.rows.metric_rows` of the period
    for that venture and stage only (newest first, at most ``limit``). A venture outside the
    scope or the chosen companies selects nothing, exactly like an unknown one."""
    narrowed = replace(f, venture_ids=(valid_id(venture_id, "ventures"),), stages=(stage_id,))
    return metric_rows(engine, scope, narrowed, limit=valid_limit(limit))


# ---- "What changed" ----------------------------------------------------------------------------


def _worse(now: float, before: float, measure: str) -> float:
    if measure == "error_rate":
        return 100.0 * (now - before)  # points of percent
    if measure == "handoff_efficiency":
        return before - now  # points of percent, lower is worse
    return (now - before) / before * 100.0 if before > 0 else math.nan  # per cent more


def robust_z(values: pd.Series) -> pd.Series:
    """``(value - median) / spread`` with spread = 1.4826 x MAD (a sigma for normal data), or
    the standard deviation when the MAD is 0, or all zeros when both are; NaN stays NaN."""
    z = _robust_z(values.to_numpy(dtype="float64"))
    return pd.Series(z, index=values.index, dtype="float64")


def _robust_z(values: np.ndarray) -> np.ndarray:
    known = values[~np.isnan(values)]
    if not len(known):
        return np.full(len(values), math.nan)
    center = float(np.median(known))
    spread = _MAD_TO_SIGMA * float(np.median(np.abs(known - center)))
    if not spread > 0:
        spread = float(np.std(known))
    if not spread > 0:
        return np.where(np.isnan(values), math.nan, 0.0)
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
    # The totals of both periods per venture, from the rollups where they serve; a few hundred
    # ventures at most, so plain records (a frame per step cost more than the figures).
    rows = venture_period_rows(engine, scope, f)
    before = {(r.company_id, r.venture_id): r for r in rows if not r.is_current}
    changes = [
        _change(r, before.get((r.company_id, r.venture_id)), minimum) for r in rows if r.is_current
    ]
    for m in CHANGE_MEASURES:
        worse = np.array([c[f"worse_{m}"] if c["eligible"] else math.nan for c in changes])
        for c, z in zip(changes, _robust_z(worse), strict=True):
            c[f"z_{m}"] = float(z)
    for c in changes:
        c["score"], c["measure"], c["reason"] = _reason(c, minimum)
    if f.venture_ids:
        changes = [c for c in changes if c["venture_id"] in f.venture_ids]
    changes.sort(key=_ranked)
    return typed(changes, CHANGES, f.tz)


def _ranked(change: dict[str, Any]) -> tuple[Any, ...]:
    """Highest score first (unscored last), then most actions, then by name."""
    score = change["score"]
    unscored = math.isnan(score)
    return (
        unscored,
        0.0 if unscored else -score,
        -change["actions"],
        change["venture"] is None,
        change["venture"] or "",
        change["venture_id"],
    )


def _change(row: Any, before: Any, minimum: int) -> dict[str, Any]:
    """A venture's figures of both periods and how much worse each measure got."""
    change: dict[str, Any] = {
        "venture_id": str(row.venture_id),
        "venture": row.venture,
        "company_id": str(row.company_id),
        "company": row.company,
        "actions": int(row.actions),
        "prev_actions": int(before.actions) if before is not None else 0,
    }
    change["eligible"] = change["actions"] >= minimum and change["prev_actions"] >= minimum
    for m in CHANGE_MEASURES:
        now = _float(getattr(row, m))
        prev = _float(getattr(before, m)) if before is not None else math.nan
        change[m], change[f"prev_{m}"] = now, prev
        change[f"worse_{m}"] = _worse(now, prev, m)
    return change
