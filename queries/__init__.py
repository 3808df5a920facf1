"""The data layer of the dashboard: typed, tenant-scoped queries. Pages call only these names."""

from queries.agents import agent_activity, agents
from queries.attention import venture_attention
from queries.catalog import companies, data_range, scope_for_user, ventures
from queries.criteria import Filters, Scope
from queries.durations import stage_durations
from queries.engines import get_engine
from queries.errors import Busy, DashboardError, DataUnavailable, InvalidFilter, QueryTimeout
from queries.extracts import export_csv
from queries.figures import (
    chairman_interventions,
    error_rates,
    handoff_efficiency,
    kpi_trend,
    kpis,
    stage_rates,
)
from queries.health import cell_rows, venture_changes, venture_stage_health
from queries.rows import count_rows, metric_rows
from queries.zones import rollup_zone

__all__ = [
    "Busy",
    "DashboardError",
    "DataUnavailable",
    "Filters",
    "InvalidFilter",
    "QueryTimeout",
    "Scope",
    "agent_activity",
    "agents",
    "cell_rows",
    "chairman_interventions",
    "companies",
    "count_rows",
    "data_range",
    "error_rates",
    "export_csv",
    "get_engine",
    "handoff_efficiency",
    "kpi_trend",
    "kpis",
    "metric_rows",
    "rollup_zone",
    "scope_for_user",
    "stage_durations",
    "stage_rates",
    "venture_attention",
    "venture_changes",
    "venture_stage_health",
    "ventures",
]
