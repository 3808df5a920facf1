"""Low-confidence shares expected from raw rows in pandas, and the query layer's, side by side.

A row is low-confidence when its data_quality_score or confidence_score is below the threshold
(a missing score is not low). ``low_share`` is the share of the actions such rows carry, or of
the rows when the group has no actions (NaN without rows); in stage_durations the share of the
measured durations. The expected figures are computed here from the rows as generated (or as
read back raw by the owner), never with the code under test.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import metrics_world as mw
import pandas as pd
from sqlalchemy import Engine, text

import queries
from queries import Filters, Scope
from queries.low_confidence import threshold_or_default

PER_VENTURE = ("error_rates", "handoff_efficiency", "chairman_interventions")
Figures = dict[str, dict[Any, float]]


def is_low(rows: pd.DataFrame, threshold: float) -> pd.Series:
    quality, confidence = rows["data_quality_score"], rows["confidence_score"]
    return ((quality < threshold) | (confidence < threshold)).fillna(False).astype(bool)


def share(rows: pd.DataFrame, threshold: float) -> float:
    if rows.empty:
        return math.nan
    low = is_low(rows, threshold)
    actions = rows["action_count"].fillna(0).astype("int64")
    if actions.sum() > 0:
        return int(actions[low].sum()) / int(actions.sum())
    return int(low.sum()) / len(rows)


def duration_share(rows: pd.DataFrame, threshold: float) -> float:
    measured = rows["stage_duration"].notna()
    if not measured.any():
        return math.nan
    return int((measured & is_low(rows, threshold)).sum()) / int(measured.sum())


def _key(value: Any) -> Any:
    """Group keys comparable across both sides: instants as seconds, missing ids as None."""
    if isinstance(value, pd.Timestamp):
        return value.timestamp()
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def expected(world: mw.World, user: str, f: Filters, threshold: float | None) -> Figures:
    t = threshold_or_default(threshold)

    def rows_from(start: Any, end: Any) -> pd.DataFrame:
        return mw.selected(
            world, user, start, end, f.tz, f.company_ids, f.venture_ids, f.stages
        ).copy()

    rows = rows_from(f.start, f.end)
    prev_start, prev_end = mw.previous_period(f.start, f.end)
    before = rows_from(prev_start, prev_end)
    rows["bucket"] = mw.buckets(rows["recorded_at"], f.grain, f.tz)
    out: Figures = {
        "kpis": {"low_share": share(rows, t), "prev_low_share": share(before, t)},
        "kpi_trend": {_key(b): share(g, t) for b, g in rows.groupby("bucket")},
        "stage_rates": {s: share(rows[rows["stage_id"] == s], t) for s in range(1, 41)},
        "stage_durations": {
            s: duration_share(rows[rows["stage_id"] == s], t) for s in range(1, 41)
        },
    }
    keys = ["bucket", "company_id", "venture_id"]
    per = {
        tuple(_key(k) for k in key): share(g, t)
        for key, g in rows.groupby(keys, dropna=False, sort=False)
    }
    out |= {name: per for name in PER_VENTURE}
    return out


def actual(engine: Engine, scope: Scope, f: Filters, threshold: float | None) -> Figures:
    kpis = queries.kpis(engine, scope, f, threshold=threshold).iloc[0]
    trend = queries.kpi_trend(engine, scope, f, threshold=threshold)
    out: Figures = {
        "kpis": {"low_share": kpis["low_share"], "prev_low_share": kpis["prev_low_share"]},
        "kpi_trend": {_key(b): s for b, s in zip(trend["bucket"], trend["low_share"], strict=True)},
    }
    for name in ("stage_rates", "stage_durations"):
        frame = getattr(queries, name)(engine, scope, f, threshold=threshold)
        out[name] = dict(zip(frame["stage_id"], frame["low_share"], strict=True))
    for name in PER_VENTURE:
        frame = getattr(queries, name)(engine, scope, f, threshold=threshold)
        keys = zip(frame["bucket"], frame["company_id"], frame["venture_id"], strict=True)
        out[name] = {
            tuple(_key(k) for k in key): s for key, s in zip(keys, frame["low_share"], strict=True)
        }
    return out


def close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def assert_same(got: Figures, want: Figures) -> None:
    assert set(got) == set(want)
    for name, figures in want.items():
        assert set(got[name]) == set(figures), name
        wrong = {k: (got[name][k], v) for k, v in figures.items() if not close(got[name][k], v)}
        assert not wrong, (name, list(wrong.items())[:3])


RAW_ROWS = """
    SELECT CAST(m.company_id AS text) AS company_id, CAST(m.venture_id AS text) AS venture_id,
           m.stage_id, m.recorded_at, m.action_count,
           CAST(extract(epoch FROM m.stage_duration) AS double precision) AS stage_duration,
           CAST(m.data_quality_score AS double precision) AS data_quality_score,
           CAST(m.confidence_score AS double precision) AS confidence_score
    FROM orchestration_metrics AS m
"""


def as_written(owner: Engine, world: mw.World) -> mw.World:
    """The world with the rows its database holds now (read raw by the owner), e.g. after
    writes: what the expected figures are then computed from."""
    with owner.connect() as conn:
        rows = pd.DataFrame([dict(r._mapping) for r in conn.execute(text(RAW_ROWS))])
    rows["recorded_at"] = pd.to_datetime(rows["recorded_at"].astype(object), utc=True)
    for column in ("stage_duration", "data_quality_score", "confidence_score"):
        rows[column] = rows[column].astype("float64")
    rows["action_count"] = rows["action_count"].astype("Int64")
    rows["stage_id"] = rows["stage_id"].astype("Int64")
    return dataclasses.replace(world, rows=rows)
