"""The peer benchmark of Venture health: for each venture x stage cell, the median of the other
ventures' values at the same stage, by one sort of all cells (numpy, no loop per cell)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def peer_median(cells: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
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
