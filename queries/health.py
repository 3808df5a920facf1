"""Venture health's cells: where a venture stands at each of its stages, against the stage and
against its peers. A generic BI tool cannot answer that, because it does not know that ventures
move through 40 ordered stages and that rows carry their own quality and confidence:

- :func:`venture_stage_health`: per venture and stage, the median stage duration, error rate and
  handoff efficiency against that stage's baseline (every row in view at the stage), and
  against the median of the other ventures (the peer benchmark, queries/peers.py), with the
  share carried by low-confidence rows.
- :func:`heatmap_cells`: one measure of those cells against one reference, as the heatmap
  draws it.
- :func:`cell_rows`: the raw rows behind one venture x stage cell (the drill-down).

Each venture against its own past ("What changed") is queries/changes.py.

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
from queries.frames import Columns, as_float, conform, empty
from queries.low_confidence import default_threshold, valid_threshold
from queries.peers import peer_median
from queries.rows import metric_rows
from queries.totals import venture_stages
from queries.transactions import fetch

# The three measures of the heatmap, and the direction in which each is worse.
MEASURES = ("duration", "error_rate", "handoff_efficiency")
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


# ---- the heatmap and the peer benchmark -----------------------------------------------------


def _share(low: np.ndarray, base: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, low / base, math.nan)


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
            cells[f"peer_{column}"], _ = peer_median(cells, column)
        found = _medians_of(engine, scope, f, _measured(cells, False), params)
        baselines, theirs = side()
        cells["p50_s"] = _keyed(cells, found | theirs)
        cells["base_p50_s"] = _stage_medians(stages, baselines)[cell_stage]
    cells["peer_p50_s"], cells["peers"] = peer_median(cells, "p50_s")
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
    v, r = as_float(value), as_float(reference)
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


# ---- the drill-down --------------------------------------------------------------------------


def cell_rows(
    engine: Engine, scope: Scope, f: Filters, venture_id: str, stage_id: int, limit: int = 5_000
) -> pd.DataFrame:
    """The raw rows behind one heatmap cell: :func:`~queries.rows.metric_rows` of the period
    for that venture and stage only (newest first, at most ``limit``). A venture outside the
    scope or the chosen companies selects nothing, exactly like an unknown one."""
    narrowed = replace(f, venture_ids=(valid_id(venture_id, "ventures"),), stages=(stage_id,))
    return metric_rows(engine, scope, narrowed, limit=valid_limit(limit))
