"""Venture health's "What changed" ranking: each venture's largest deterioration against the
previous period of equal length, scored against the spread of every venture's change.

Both tenancy locks hold as everywhere (the totals are read in ``transactions.scoped()`` with the
explicit company filter); the venture choice narrows the ventures shown, never the spread they
are compared with.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from queries.criteria import Filters, Scope, sql_params
from queries.errors import InvalidFilter
from queries.frames import Columns, as_float, empty, typed
from queries.totals import venture_period_rows

DEFAULT_MIN_ACTIONS = 200
# MAD of a normal distribution is 0.6745 sigma: this makes the robust spread a sigma.
_MAD_TO_SIGMA = 1.4826
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
        now = as_float(getattr(row, m))
        prev = as_float(getattr(before, m)) if before is not None else math.nan
        change[m], change[f"prev_{m}"] = now, prev
        change[f"worse_{m}"] = _worse(now, prev, m)
    return change
