"""Stage durations: per stage its count, mean and percentiles (percentile_cont, exactly), read
through the duration rollups where they serve (queries/percentiles.py does the arithmetic)."""

from __future__ import annotations

import math

import pandas as pd
from sqlalchemy import Engine

from queries import percentiles, periods, transactions
from queries.criteria import Filters, Scope, sql_params
from queries.frames import Columns
from queries.low_confidence import threshold_or_default
from queries.totals import LOW, all_stages, totals_frame
from queries.transactions import fetch

STAGE_DURATIONS: Columns = {
    "stage_id": "int",
    "rows": "int",
    "measured": "int",
    "mean_s": "float",
    "p10_s": "float",
    "p25_s": "float",
    "p50_s": "float",
    "p75_s": "float",
    "p90_s": "float",
    **LOW,
}
_PERCENTILES = ("p10_s", "p25_s", "p50_s", "p75_s", "p90_s")
PERCENTILE_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9)


def stage_durations(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """Per stage 1..40: ``rows`` (rows of the stage), ``measured`` (of them, with a duration),
    ``mean_s`` and the percentiles ``p10_s p25_s p50_s p75_s p90_s`` of stage_duration in seconds
    (percentile_cont, linear interpolation; NaN where no duration was measured), and
    ``low_share``: the share of the measured durations from low-confidence rows."""
    keep = ["stage_id", "rows", "measured", "mean_stage_duration_s", "low_duration_share"]
    low = threshold_or_default(threshold)
    totals = totals_frame(engine, scope, f, by_stage=True, keep=keep, threshold=low)
    totals = totals.dropna(subset=["stage_id"]).rename(
        columns={"mean_stage_duration_s": "mean_s", "low_duration_share": "low_share"}
    )
    found = stage_percentiles(engine, scope, f)
    for i, name in enumerate(_PERCENTILES):
        totals[name] = [
            math.nan if s not in found or found[s][i] is None else found[s][i]
            for s in totals["stage_id"].astype("int64")
        ]
    return all_stages(totals, STAGE_DURATIONS)


def stage_percentiles(
    engine: Engine,
    scope: Scope,
    f: Filters,
    fractions: tuple[float, ...] = PERCENTILE_FRACTIONS,
) -> dict[int, list[float | None]]:
    """Per stage with measured durations, their percentiles at ``fractions`` (default p10, p25,
    p50, p75 and p90) in seconds, in that order (exactly percentile_cont, through the duration
    rollups where they serve). Fewer fractions read fewer bins."""
    params = sql_params(scope, f)
    if params is None:
        return {}
    params.update(periods.percentile_cells(f))
    params["fractions"] = list(fractions)
    # One snapshot: the ranks are counted in the histograms that the values are then read at.
    with transactions.scoped(engine, scope.user_id):
        rows = fetch(engine, scope, "duration_histograms", params)
        raw = {r.stage_id: r.percentiles for r in rows if r.base is None}
        if raw:
            return {stage: found for stage, found in raw.items() if found is not None}
        wanted = percentiles.ranks(percentiles.histograms(rows), fractions)
        if not wanted.totals:
            return {}
        values = fetch(engine, scope, "duration_ranks", params | wanted.params())
    return percentiles.interpolated(wanted.totals, values, fractions)
