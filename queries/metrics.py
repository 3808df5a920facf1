"""One typed function per query: each runs a named SQL file in ``transactions.scoped()`` and
returns a frame.

Every function takes the engine, the user's :class:`Scope` and (mostly) :class:`Filters`, and
applies both tenancy locks: the scoped transaction (RLS as the user) and the explicit
``company_id = ANY(:company_ids)`` with the scope's companies intersected with the choice. When
that intersection is empty the function answers with a correctly shaped empty frame at once.

Units: durations are seconds (float), ``error_rate`` 0..1, ``handoff_efficiency`` and scores
0..100, money as stored, counts are integers, timestamps tz-aware in the filter's zone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine, Row

from queries import config, percentiles, periods, sqlfiles, transactions
from queries.criteria import Filters, Scope, sql_params, valid_id, valid_ids, valid_timezone
from queries.errors import InvalidFilter
from queries.frames import Columns, empty, from_rows, typed
from queries.low_confidence import threshold_or_default

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
_SUMS = {name for name, kind in MEASURES.items() if kind == "int"} | {"compute_cost"}
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
KPIS: Columns = {
    **MEASURES,
    **LOW,
    **{f"prev_{name}": kind for name, kind in {**MEASURES, **LOW}.items()},
}
TREND: Columns = {"bucket": "ts", **MEASURES, **LOW}
STAGE_RATES: Columns = {"stage_id": "int", **MEASURES, **LOW}
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
_VENTURE: Columns = {
    "bucket": "ts",
    "venture_id": "str",
    "venture": "str",
    "company_id": "str",
    "company": "str",
    "rows": "int",
    "actions": "int",
}
ERROR_RATES: Columns = {**_VENTURE, "error_rate": "float", **LOW}
HANDOFF_EFFICIENCY: Columns = {**_VENTURE, "handoff_efficiency": "float", **LOW}
CHAIRMAN_INTERVENTIONS: Columns = {
    **_VENTURE,
    "interventions": "int",
    "approvals": "int",
    "rejections": "int",
    **LOW,
}
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
# The spec's 25 columns under their names (intervals as seconds), then the names.
METRIC_ROWS: Columns = {
    "metric_id": "str",
    "session_id": "str",
    "company_id": "str",
    "venture_id": "str",
    "stage_id": "Int64",
    "stage_duration": "float",
    "handoff_efficiency": "float",
    "error_rate": "float",
    "action_count": "Int64",
    "success_count": "Int64",
    "failure_count": "Int64",
    "agent_response_time": "float",
    "agent_utilization": "float",
    "agents_involved": "object",
    "chairman_interventions": "Int64",
    "chairman_approvals": "Int64",
    "chairman_rejections": "Int64",
    "compute_cost": "float",
    "api_calls_made": "Int64",
    "data_quality_score": "float",
    "confidence_score": "float",
    "recorded_at": "ts",
    "metric_period_start": "ts",
    "metric_period_end": "ts",
    "metadata": "object",
    "company": "str",
    "venture": "str",
}
COMPANIES: Columns = {"company_id": "str", "company": "str"}
VENTURES: Columns = {"venture_id": "str", "venture": "str", "company_id": "str", "company": "str"}
MAX_LIMIT = 1_000_000


def fetch(engine: Engine, scope: Scope, name: str, params: dict[str, Any]) -> list[Row[Any]]:
    """Run ``queries/sql/<name>.sql`` in the user's scoped transaction; bind what it declares."""
    statement = sqlfiles.load(name)
    bound = {key: params[key] for key in statement._bindparams}
    with transactions.scoped(engine, scope.user_id) as conn:
        return list(conn.execute(statement, bound))


def scope_for_user(engine: Engine, user_id: str) -> Scope:
    """The user's scope: the companies they have ACTIVE access to, read under RLS as the user."""
    scope = Scope(user_id=valid_id(user_id, "users"))
    rows = fetch(engine, scope, "scope_companies", {"user_id": scope.user_id})
    return Scope(user_id=scope.user_id, company_ids=tuple(r.company_id for r in rows))


def companies(engine: Engine, scope: Scope) -> pd.DataFrame:
    """``company_id, company`` of the scope, sorted by name: the choices of the Companies picker."""
    tz = config.timezone_name()
    if not scope.company_ids:
        return empty(COMPANIES, tz)
    rows = fetch(engine, scope, "companies", {"company_ids": list(scope.company_ids)})
    return from_rows(rows, COMPANIES, tz)


def ventures(engine: Engine, scope: Scope, company_ids: Any = ()) -> pd.DataFrame:
    """``venture_id, venture, company_id, company`` of the scope's companies (or of the chosen
    ones among them), sorted by company and venture name."""
    tz = config.timezone_name()
    chosen = scope.companies_for(valid_ids(company_ids, "companies"))
    if not chosen:
        return empty(VENTURES, tz)
    rows = fetch(engine, scope, "ventures", {"company_ids": list(chosen)})
    return from_rows(rows, VENTURES, tz)


def data_range(
    engine: Engine, scope: Scope, tz: str | None = None
) -> tuple[datetime | None, datetime | None]:
    """First and last ``recorded_at`` of the scope's data, tz-aware (ORCHDASH_TIMEZONE by
    default); ``(None, None)`` when the scope has no data."""
    zone = ZoneInfo(valid_timezone(config.timezone_name() if tz is None else tz))
    if not scope.company_ids:
        return None, None
    row = fetch(engine, scope, "data_range", {"company_ids": list(scope.company_ids)})[0]
    return (
        row.first.astimezone(zone) if row.first else None,
        row.last.astimezone(zone) if row.last else None,
    )


def _totals(
    engine: Engine,
    scope: Scope,
    f: Filters,
    *,
    keep: Iterable[str] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """totals.sql as a frame of the columns ``keep`` (all by default): a page of ten thousand
    groups pays for the columns it shows only. ``options``: those of :func:`_total_rows`."""
    columns = _TOTALS if keep is None else {name: _TOTALS[name] for name in keep}
    rows = _total_rows(engine, scope, f, all_sums=not _NARROW.issuperset(columns), **options)
    return from_rows(rows, columns, f.tz) if rows is not None else empty(columns, f.tz)


def _total_rows(
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
    if previous:
        params["prev_start_ts"] = f.previous().bounds()[0]
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
    rows = _total_rows(engine, scope, every, by_venture=True, previous=True)
    return [r for r in rows or () if r.venture_id is not None]


def _one_row(frame: pd.DataFrame, prefix: str = "") -> dict[str, Any]:
    """The measures of a frame of at most one row; zero counts and NaN rates when it has none."""
    if frame.empty:
        return {prefix + k: (0 if k in _SUMS else math.nan) for k in {**MEASURES, **LOW}}
    first = frame.iloc[0]
    return {prefix + k: first[k] for k in {**MEASURES, **LOW}}


def kpis(engine: Engine, scope: Scope, f: Filters, threshold: float | None = None) -> pd.DataFrame:
    """One row: the period's totals and weighted rates, and the same prefixed ``prev_`` for the
    previous period of equal length (:meth:`Filters.previous`).

    Columns: ``rows actions successes failures error_rate handoff_efficiency
    mean_stage_duration_s interventions approvals rejections compute_cost api_calls data_quality
    confidence`` and ``prev_`` + each. Counts are sums (0 when nothing matches), rates are
    weighted by action_count (NaN when no row has both), ``data_quality`` and ``confidence`` are
    plain means of the rows' scores, ``compute_cost`` is the sum of the recorded costs.
    ``low_share`` (and ``prev_low_share``): the share of the actions (of the rows when there are
    no actions) that low-confidence rows carry, at ``threshold`` (None: the configured one).
    """
    keep = ["is_current", *MEASURES, *LOW]
    low = threshold_or_default(threshold)
    totals = _totals(engine, scope, f, previous=True, keep=keep, threshold=low)
    row = _one_row(totals[totals["is_current"]]) | _one_row(totals[~totals["is_current"]], "prev_")
    return typed([row], KPIS, f.tz)


def kpi_trend(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """The measures of :func:`kpis` per period bucket (``f.grain`` in ``f.tz``), oldest first,
    with ``low_share``; buckets without rows are absent."""
    low = threshold_or_default(threshold)
    totals = _totals(engine, scope, f, by_bucket=True, keep=TREND, threshold=low)
    return totals.sort_values("bucket", ignore_index=True)


def stage_rates(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """The measures of :func:`kpis` per stage, with ``low_share``, all 40 stages in order (zero
    counts and NaN rates where a stage has no rows). Rows without a stage are left out."""
    low = threshold_or_default(threshold)
    totals = _totals(engine, scope, f, by_stage=True, keep=STAGE_RATES, threshold=low)
    return _all_stages(totals.dropna(subset=["stage_id"]), STAGE_RATES)


def _all_stages(frame: pd.DataFrame, columns: Columns) -> pd.DataFrame:
    by_stage = frame.set_index(frame["stage_id"].astype("int64"))
    full = by_stage.reindex(STAGE_IDS)
    full["stage_id"] = list(STAGE_IDS)
    for name, kind in columns.items():
        if name in _SUMS or name in ("rows", "measured"):
            full[name] = full[name].fillna(0).astype("int64" if kind == "int" else "float64")
    return full.reset_index(drop=True)[list(columns)]


def stage_durations(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """Per stage 1..40: ``rows`` (rows of the stage), ``measured`` (of them, with a duration),
    ``mean_s`` and the percentiles ``p10_s p25_s p50_s p75_s p90_s`` of stage_duration in seconds
    (percentile_cont, linear interpolation; NaN where no duration was measured), and
    ``low_share``: the share of the measured durations from low-confidence rows."""
    keep = ["stage_id", "rows", "measured", "mean_stage_duration_s", "low_duration_share"]
    low = threshold_or_default(threshold)
    totals = _totals(engine, scope, f, by_stage=True, keep=keep, threshold=low)
    totals = totals.dropna(subset=["stage_id"]).rename(
        columns={"mean_stage_duration_s": "mean_s", "low_duration_share": "low_share"}
    )
    found = stage_percentiles(engine, scope, f)
    for i, name in enumerate(_PERCENTILES):
        totals[name] = [
            math.nan if s not in found or found[s][i] is None else found[s][i]
            for s in totals["stage_id"].astype("int64")
        ]
    return _all_stages(totals, STAGE_DURATIONS)


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


def _per_venture(
    engine: Engine, scope: Scope, f: Filters, columns: Columns, threshold: float | None
) -> pd.DataFrame:
    low = threshold_or_default(threshold)
    totals = _totals(engine, scope, f, by_bucket=True, by_venture=True, keep=columns, threshold=low)
    return totals.sort_values(
        ["bucket", "company", "venture", "company_id", "venture_id"], ignore_index=True
    )


def error_rates(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """Per period bucket and venture: ``actions`` and the weighted ``error_rate`` (0..1).

    Columns ``bucket venture_id venture company_id company rows actions error_rate low_share``;
    rows are grouped by (bucket, company, venture), a NULL venture_id being a group of its own.
    ``low_share`` as in :func:`kpis`, at ``threshold`` (None: the configured one).
    """
    return _per_venture(engine, scope, f, ERROR_RATES, threshold)


def handoff_efficiency(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """Per period bucket and venture: ``actions`` and the weighted ``handoff_efficiency``
    (0..100), with ``low_share``; the grouping of :func:`error_rates`."""
    return _per_venture(engine, scope, f, HANDOFF_EFFICIENCY, threshold)


def chairman_interventions(
    engine: Engine, scope: Scope, f: Filters, threshold: float | None = None
) -> pd.DataFrame:
    """Per period bucket and venture: sums of ``interventions approvals rejections`` (and
    ``actions``), with ``low_share``; the grouping of :func:`error_rates`."""
    return _per_venture(engine, scope, f, CHAIRMAN_INTERVENTIONS, threshold)


def venture_attention(engine: Engine, scope: Scope, f: Filters, limit: int = 5) -> pd.DataFrame:
    """The ventures that most need attention in the period, highest ``score`` first.

    Over the ventures with rows in the period (and a venture id), in points of percent::

        score = 100 * error_rate + (100 - handoff_efficiency)                 # the level
              + 2 * max(0, 100 * (error_rate - prev_error_rate))              # deterioration,
              + 2 * max(0, prev_handoff_efficiency - handoff_efficiency)      # counted double

    A term whose rates are missing counts 0. ``reason`` names the largest term. Ties go to the
    venture with more actions, then by name.
    """
    limit = _valid_limit(limit)
    keep = ["is_current", "company_id", "venture_id", "company", "venture", "actions"]
    keep += ["error_rate", "handoff_efficiency", "interventions"]
    totals = _totals(engine, scope, f, by_venture=True, previous=True, keep=keep)
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


def _valid_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidFilter(f"A row limit is a whole number from 1 to {MAX_LIMIT:,}.")
    return limit


def metric_rows(engine: Engine, scope: Scope, f: Filters, limit: int | None = None) -> pd.DataFrame:
    """The raw rows the filters select, newest first (ties by metric_id), at most ``limit``.

    Columns: the spec's 25 under their names, then ``company venture``. Intervals
    (``stage_duration``, ``agent_response_time``) are float seconds, numerics floats, counts
    nullable integers, ``agents_involved`` a list, ``metadata`` a dict, timestamps in ``f.tz``.
    """
    row_limit = None if limit is None else _valid_limit(limit)
    params = sql_params(scope, f)
    if params is None:
        return empty(METRIC_ROWS, f.tz)
    rows = fetch(engine, scope, "metric_rows", params | {"row_limit": row_limit})
    return from_rows(rows, METRIC_ROWS, f.tz)


def count_rows(engine: Engine, scope: Scope, f: Filters) -> int:
    """How many raw rows the filters select: what :func:`export_csv` would write."""
    return int(_totals(engine, scope, f, keep=["rows"])["rows"].sum())
