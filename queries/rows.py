"""The raw rows the filters select (metric_rows.sql), and how many there are: what the CSV
extract writes (queries/extracts.py)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from queries.criteria import Filters, Scope, sql_params, valid_limit
from queries.frames import Columns, empty, from_rows
from queries.totals import totals_frame
from queries.transactions import fetch

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


def metric_rows(engine: Engine, scope: Scope, f: Filters, limit: int | None = None) -> pd.DataFrame:
    """The raw rows the filters select, newest first (ties by metric_id), at most ``limit``.

    Columns: the spec's 25 under their names, then ``company venture``. Intervals
    (``stage_duration``, ``agent_response_time``) are float seconds, numerics floats, counts
    nullable integers, ``agents_involved`` a list, ``metadata`` a dict, timestamps in ``f.tz``.
    """
    row_limit = None if limit is None else valid_limit(limit)
    params = sql_params(scope, f)
    if params is None:
        return empty(METRIC_ROWS, f.tz)
    rows = fetch(engine, scope, "metric_rows", params | {"row_limit": row_limit})
    return from_rows(rows, METRIC_ROWS, f.tz)


def count_rows(engine: Engine, scope: Scope, f: Filters) -> int:
    """How many raw rows the filters select: what :func:`export_csv` would write."""
    return int(totals_frame(engine, scope, f, keep=["rows"])["rows"].sum())
