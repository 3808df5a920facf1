"""The naive baseline: the filtered raw rows read into pandas, grouped there.

As a Streamlit page commonly does it (``pd.read_sql`` of the rows, then ``groupby``), but
without handicaps: only the columns the figures need, numbers already cast in SQL, the same
RLS-scoped transaction as the query layer, vectorised pandas. Each page's frames are computed
here again and compared with the query layer's before any ratio is reported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from queries import Filters, transactions
from queries.attention import attention_score
from queries.totals import MEASURES

ROWS = """
    SELECT m.metric_id::text AS metric_id, m.company_id::text AS company_id,
           m.venture_id::text AS venture_id, m.stage_id, m.recorded_at,
           CAST(extract(epoch FROM m.stage_duration) AS double precision) AS stage_duration,
           CAST(m.error_rate AS double precision) AS error_rate,
           CAST(m.handoff_efficiency AS double precision) AS handoff_efficiency,
           m.action_count, m.success_count, m.failure_count, m.chairman_interventions,
           m.chairman_approvals, m.chairman_rejections,
           CAST(m.compute_cost AS double precision) AS compute_cost, m.api_calls_made,
           CAST(m.data_quality_score AS double precision) AS data_quality_score,
           CAST(m.confidence_score AS double precision) AS confidence_score,
           CAST(extract(epoch FROM m.agent_response_time) AS double precision) AS response_s,
           CAST(m.agent_utilization AS double precision) AS utilization, m.agents_involved,
           c.name AS company, v.name AS venture
    FROM orchestration_metrics AS m
    LEFT JOIN companies AS c ON c.id = m.company_id
    LEFT JOIN ventures AS v ON v.id = m.venture_id AND v.company_id = m.company_id
    WHERE m.company_id = ANY(CAST(:company_ids AS uuid[]))
      AND m.recorded_at >= :lo AND m.recorded_at < :hi
      AND (cardinality(CAST(:venture_ids AS uuid[])) = 0
           OR m.venture_id = ANY(CAST(:venture_ids AS uuid[])))
      AND (cardinality(CAST(:stages AS integer[])) = 0
           OR m.stage_id = ANY(CAST(:stages AS integer[])))
"""
COUNTS = (
    "action_count",
    "success_count",
    "failure_count",
    "chairman_interventions",
    "chairman_approvals",
    "chairman_rejections",
    "api_calls_made",
)


def read_rows(
    engine: Engine, user_id: str, company_ids: tuple[str, ...], f: Filters, previous: bool
) -> pd.DataFrame:
    """The rows of the period (or of the previous one) that the filters select, as the user."""
    period = f.previous() if previous else f
    lo, hi = period.bounds()
    params = {
        "company_ids": list(company_ids),
        "venture_ids": list(f.venture_ids),
        "stages": list(f.stages),
        "lo": lo,
        "hi": hi,
    }
    with transactions.scoped(engine, user_id, timeout_ms=600_000) as conn:
        frame = pd.read_sql(text(ROWS), conn, params=params)
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"], utc=True)
    return frame


def _prepared(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-row addends of every measure, so that groups are plain sums."""
    actions = rows["action_count"].astype("float64")
    out = pd.DataFrame(index=rows.index)
    out["rows"] = 1
    for column in COUNTS:
        out[column] = rows[column].fillna(0).astype("int64")
    for rate in ("error_rate", "handoff_efficiency"):
        ok = rows[rate].notna() & actions.notna() & (actions > 0)
        out[f"{rate}_num"] = (rows[rate] * actions).where(ok, 0.0)
        out[f"{rate}_w"] = actions.where(ok, 0.0)
    for column in ("stage_duration", "data_quality_score", "confidence_score", "response_s"):
        out[f"{column}_sum"] = rows[column].fillna(0.0)
        out[f"{column}_n"] = rows[column].notna().astype("int64")
    out["compute_cost"] = rows["compute_cost"].fillna(0.0)
    out["cost_n"] = rows["compute_cost"].notna().astype("int64")
    return out


def measures(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The measures of DESIGN.md per group of ``keys`` (NULL keys are groups of their own)."""
    if rows.empty:
        return pd.DataFrame(columns=[*keys, *MEASURES, "cost_per_success", "response_s"])
    parts = _prepared(rows)
    for key in keys:
        parts[key] = rows[key]
    sums = parts.groupby(keys, dropna=False, sort=False).sum(numeric_only=True)

    def ratio(num: str, den: str) -> pd.Series:
        return (sums[num] / sums[den]).where(sums[den] > 0)

    out = pd.DataFrame(index=sums.index)
    out["rows"] = sums["rows"]
    out["actions"] = sums["action_count"]
    out["successes"] = sums["success_count"]
    out["failures"] = sums["failure_count"]
    out["error_rate"] = ratio("error_rate_num", "error_rate_w")
    out["handoff_efficiency"] = ratio("handoff_efficiency_num", "handoff_efficiency_w")
    out["mean_stage_duration_s"] = ratio("stage_duration_sum", "stage_duration_n")
    out["interventions"] = sums["chairman_interventions"]
    out["approvals"] = sums["chairman_approvals"]
    out["rejections"] = sums["chairman_rejections"]
    out["compute_cost"] = sums["compute_cost"]
    out["api_calls"] = sums["api_calls_made"]
    out["data_quality"] = ratio("data_quality_score_sum", "data_quality_score_n")
    out["confidence"] = ratio("confidence_score_sum", "confidence_score_n")
    out["cost_per_success"] = (sums["compute_cost"] / sums["success_count"]).where(
        (sums["cost_n"] > 0) & (sums["success_count"] > 0)
    )
    out["response_s"] = ratio("response_s_sum", "response_s_n")
    return out.reset_index()


def bucket(rows: pd.DataFrame, grain: str, tz: str) -> pd.Series:
    wall = rows["recorded_at"].dt.tz_convert(tz).dt.tz_localize(None)
    if grain == "day":
        start = wall.dt.normalize()
    elif grain == "week":
        start = wall.dt.normalize() - pd.to_timedelta(wall.dt.day_of_week, unit="D")
    else:
        start = wall.dt.to_period("M").dt.start_time
    return start.dt.tz_localize(tz)


def stage_durations(rows: pd.DataFrame) -> pd.DataFrame:
    staged = rows[rows["stage_id"].notna()]
    by_stage = staged.groupby("stage_id")["stage_duration"]
    out = pd.DataFrame({"rows": staged.groupby("stage_id").size(), "mean_s": by_stage.mean()})
    out["measured"] = by_stage.count()
    quantiles = by_stage.quantile([0.1, 0.25, 0.5, 0.75, 0.9]).unstack()
    for q, name in zip(
        quantiles.columns, ("p10_s", "p25_s", "p50_s", "p75_s", "p90_s"), strict=True
    ):
        out[name] = quantiles[q]
    return out.reindex(range(1, 41)).rename_axis("stage_id").reset_index()


def venture_attention(now: pd.DataFrame, before: pd.DataFrame, limit: int) -> pd.DataFrame:
    keys = ["company_id", "venture_id"]
    cur = measures(now[now["venture_id"].notna()], keys)
    old = measures(before[before["venture_id"].notna()], keys)
    both = cur.merge(old, on=keys, how="left", suffixes=("", "_prev"))
    both["score"] = [
        attention_score(e, pe, h, ph)[0]
        for e, pe, h, ph in zip(
            both["error_rate"],
            both["error_rate_prev"],
            both["handoff_efficiency"],
            both["handoff_efficiency_prev"],
            strict=True,
        )
    ]
    return both.sort_values(["score", "actions"], ascending=[False, False]).head(limit)


def changes(now: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """Per venture, the totals of both periods behind the "What changed" ranking."""
    keys = ["company_id", "venture_id"]
    cur = measures(now[now["venture_id"].notna()], keys)
    old = measures(before[before["venture_id"].notna()], keys)
    return cur.merge(old, on=keys, how="left", suffixes=("", "_prev"))


def health_cells(rows: pd.DataFrame) -> pd.DataFrame:
    cells = rows[rows["venture_id"].notna() & rows["stage_id"].notna()]
    keys = ["company_id", "venture_id", "stage_id"]
    out = measures(cells, keys)
    medians = cells.groupby(keys)["stage_duration"].median().rename("p50_s").reset_index()
    return out.merge(medians, on=keys, how="left")


def agent_activity(rows: pd.DataFrame) -> pd.DataFrame:
    """Per agent: each row counts once for each distinct agent it names."""
    named = rows[["agents_involved", "action_count", "utilization", "response_s"]].copy()
    named["agent"] = [
        list(dict.fromkeys(a for a in names if a is not None)) if isinstance(names, list) else []
        for names in named["agents_involved"]
    ]
    each = named.explode("agent").dropna(subset=["agent"])
    by_agent = each.groupby("agent")
    return pd.DataFrame(
        {
            "rows": by_agent.size(),
            "actions": by_agent["action_count"].sum(),
            "utilization": by_agent["utilization"].mean(),
            "response_s": by_agent["response_s"].mean(),
        }
    ).reset_index()


def page_figures(page: str, now: pd.DataFrame, before: pd.DataFrame, f: Filters) -> dict[str, Any]:
    """The page's figures, computed in pandas from the raw rows."""
    keys = ["company_id", "venture_id"]
    now = now.assign(bucket=bucket(now, f.grain, f.tz)) if len(now) else now.assign(bucket=None)
    if page == "Overview":
        return {
            "kpis": (measures(now.assign(k=1), ["k"]), measures(before.assign(k=1), ["k"])),
            "kpi_trend": measures(now, ["bucket"]),
            "venture_changes": changes(now, before),
            "venture_attention": venture_attention(now, before, 5),
        }
    if page == "Venture health":
        return {
            "venture_stage_health": health_cells(now),
            "venture_changes": changes(now, before),
            "kpi_trend": measures(now, ["bucket"]),
        }
    if page == "Stage durations":
        return {"stage_durations": stage_durations(now)}
    if page in ("Error rates", "Handoff efficiency", "Chairman interventions"):
        figures = {"per_venture": measures(now, ["bucket", *keys])}
        if page != "Chairman interventions":
            figures["stage_rates"] = measures(now[now["stage_id"].notna()], ["stage_id"])
        return figures
    if page == "Agents":
        return {"agent_activity": agent_activity(now)}
    if page == "Export":
        newest = now.sort_values(["recorded_at", "metric_id"], ascending=False).head(100)
        return {"count_rows": len(now), "metric_rows": list(newest["metric_id"])}
    raise ValueError(page)


def same(a: Any, b: Any) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if isinstance(a, float | np.floating) or isinstance(b, float | np.floating):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _keyed(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Indexed by ``keys``, a missing id as its own key (NULL venture groups)."""
    frame = frame.copy()
    for key in keys:
        if key.endswith("_id") and key != "stage_id":
            frame[key] = [("-" if _missing(v) else str(v)) for v in frame[key]]
        elif key == "stage_id":
            frame[key] = frame[key].astype("float64")
    return frame.set_index(keys).sort_index()


def _check(expected: pd.DataFrame, actual: pd.DataFrame, keys: list[str], what: str) -> None:
    left, right = _keyed(expected, keys), _keyed(actual, keys)
    assert list(left.index) == list(right.index), (what, len(left), len(right))
    for column in [c for c in left.columns if c in right.columns]:
        for got, want in zip(right[column], left[column], strict=True):
            assert same(got, want), (what, column, got, want)


SUMS = {"rows", "actions", "successes", "failures", "interventions", "approvals", "rejections"}
SUMS |= {"compute_cost", "api_calls"}


def _one(frame: pd.DataFrame, column: str) -> Any:
    if frame.empty:
        return 0 if column in SUMS else math.nan
    return frame[column].iloc[0]


def assert_equal(page: str, naive: dict[str, Any], answers: dict[str, Any]) -> None:
    """The query layer's answers equal the naive figures, frame by frame."""
    if "kpis" in naive:
        now, before = naive["kpis"]
        row = answers["kpis"].iloc[0]
        for column in MEASURES:
            assert same(row[column], _one(now, column)), ("kpis", column)
            assert same(row[f"prev_{column}"], _one(before, column)), ("kpis prev", column)
    if "kpi_trend" in naive:
        _check(naive["kpi_trend"][["bucket", *MEASURES]], answers["kpi_trend"], ["bucket"], "trend")
    if "venture_changes" in naive:
        want = naive["venture_changes"]
        want = want.rename(columns={f"{m}_prev": f"prev_{m}" for m in CHANGED})
        want["prev_actions"] = want["prev_actions"].fillna(0)
        columns = ["company_id", "venture_id", *CHANGED, *(f"prev_{m}" for m in CHANGED)]
        _check(want[columns], answers["venture_changes"], ["company_id", "venture_id"], "changes")
    if "venture_attention" in naive:
        got = list(answers["venture_attention"]["score"])
        want = list(naive["venture_attention"]["score"])
        assert len(got) == len(want) and all(map(same, got, want)), "venture_attention"
    if "venture_stage_health" in naive:
        cells = naive["venture_stage_health"]
        columns = ["company_id", "venture_id", "stage_id", "rows", "actions", "p50_s"]
        columns += ["error_rate", "handoff_efficiency"]
        keys = ["company_id", "venture_id", "stage_id"]
        _check(cells[columns], answers["venture_stage_health"], keys, "venture_stage_health")
    if "stage_durations" in naive:
        want = naive["stage_durations"].fillna({"rows": 0, "measured": 0})
        _check(want, answers["stage_durations"], ["stage_id"], "stage_durations")
    if "per_venture" in naive:
        per = naive["per_venture"]
        for name in ("error_rates", "handoff_efficiency", "chairman_interventions"):
            if name in answers:
                shown = [c for c in per.columns if c in answers[name].columns]
                _check(per[shown], answers[name], ["bucket", "company_id", "venture_id"], name)
    if "stage_rates" in naive:
        rates = naive["stage_rates"][["stage_id", *MEASURES]]
        full = rates.set_index("stage_id").reindex(range(1, 41)).rename_axis("stage_id")
        full[list(SUMS)] = full[list(SUMS)].fillna(0)
        _check(full.reset_index(), answers["stage_rates"], ["stage_id"], "stage_rates")
    if "agent_activity" in naive:
        _check(naive["agent_activity"], answers["agent_activity"], ["agent"], "agent_activity")
    if page == "Export":
        assert answers["count_rows"] == naive["count_rows"]
        assert list(answers["metric_rows"]["metric_id"]) == naive["metric_rows"]


CHANGED = ("actions", "error_rate", "handoff_efficiency", "cost_per_success", "response_s")
