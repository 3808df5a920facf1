"""The ventures that most need attention in the period (the Overview's list): a score of their
error rate and handoff efficiency, and of how much each got worse, with the reason in words."""

from __future__ import annotations

import math

import pandas as pd
from sqlalchemy import Engine

from queries.criteria import Filters, Scope, valid_limit
from queries.frames import Columns, typed
from queries.totals import totals_frame

VENTURE_ATTENTION: Columns = {
    "venture_id": "str",
    "venture": "str",
    "company_id": "str",
    "company": "str",
    "actions": "int",
    "error_rate": "float",
    "prev_error_rate": "float",
    "handoff_efficiency": "float",
    "prev_handoff_efficiency": "float",
    "interventions": "int",
    "score": "float",
    "reason": "str",
}


def venture_attention(engine: Engine, scope: Scope, f: Filters, limit: int = 5) -> pd.DataFrame:
    """The ventures that most need attention in the period, highest ``score`` first.

    Over the ventures with rows in the period (and a venture id), in points of percent::

        score = 100 * error_rate + (100 - handoff_efficiency)                 # the level
              + 2 * max(0, 100 * (error_rate - prev_error_rate))              # deterioration,
              + 2 * max(0, prev_handoff_efficiency - handoff_efficiency)      # counted double

    A term whose rates are missing counts 0. ``reason`` names the largest term. Ties go to the
    venture with more actions, then by name.
    """
    limit = valid_limit(limit)
    keep = ["is_current", "company_id", "venture_id", "company", "venture", "actions"]
    keep += ["error_rate", "handoff_efficiency", "interventions"]
    totals = totals_frame(engine, scope, f, by_venture=True, previous=True, keep=keep)
    totals = totals[totals["venture_id"].notna()]
    keys = ["company_id", "venture_id"]
    current = totals[totals["is_current"]]
    before = totals[~totals["is_current"]][keys + ["error_rate", "handoff_efficiency"]]
    both = current.merge(before, on=keys, how="left", suffixes=("", "_prev"))
    records = []
    for r in both.to_dict("records"):
        prev_error, prev_handoff = r["error_rate_prev"], r["handoff_efficiency_prev"]
        score, reason = attention_score(
            r["error_rate"], prev_error, r["handoff_efficiency"], prev_handoff
        )
        records.append(r | {"prev_error_rate": prev_error, "prev_handoff_efficiency": prev_handoff})
        records[-1] |= {"score": score, "reason": reason}
    frame = typed(records, VENTURE_ATTENTION, f.tz)
    frame = frame.sort_values(
        ["score", "actions", "venture", "venture_id"],
        ascending=[False, False, True, True],
        ignore_index=True,
    )
    return frame.head(limit)


def attention_score(
    error: float, prev_error: float, handoff: float, prev_handoff: float
) -> tuple[float, str]:
    """The score of :func:`venture_attention` and the reason: its largest term."""

    def known(*values: float) -> bool:
        return not any(v is None or math.isnan(v) for v in values)

    terms = [
        (100 * error if known(error) else 0.0, f"error rate {_pct(error)}"),
        (100 - handoff if known(handoff) else 0.0, f"handoff efficiency {_pct(handoff, 1)}"),
        (
            2 * max(0.0, 100 * (error - prev_error)) if known(error, prev_error) else 0.0,
            f"error rate up from {_pct(prev_error)} to {_pct(error)}",
        ),
        (
            2 * max(0.0, prev_handoff - handoff) if known(handoff, prev_handoff) else 0.0,
            f"handoff efficiency down from {_pct(prev_handoff, 1)} to {_pct(handoff, 1)}",
        ),
    ]
    score = sum(t for t, _ in terms)
    top, reason = max(terms, key=lambda t: t[0])
    return score, reason if top > 0 else "no errors or failed handoffs"


def _pct(value: float, scale: float = 100) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value * scale:.1f}%"
